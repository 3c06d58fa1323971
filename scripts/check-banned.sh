#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when C sources use functions banned by STYLE.md (unbounded or unsafe string functions,
# atoi-style parsing, strtok) or assert.h instead of the always-on BX_ASSERT.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
[ -z "$files" ] && exit 0
status=0
if hits=$(echo "$files" | xargs grep -HnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)[[:space:]]*\(' ); then
  echo "check-banned: banned functions (see shared STYLE.md):"; echo "$hits"; status=1
fi
if hits=$(echo "$files" | xargs grep -HnE '#[[:space:]]*include[[:space:]]*<assert\.h>'); then
  echo "check-banned: use BX_ASSERT, not assert.h:"; echo "$hits"; status=1
fi
[ "$status" = 0 ] && echo "check-banned: ok ($(echo "$files" | wc -l) files)"
exit "$status"
