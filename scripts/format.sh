#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-format over every tracked C file: `--check` reports files that differ (make test),
# no argument rewrites them in place.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null)
[ -z "$files" ] && exit 0
if [ "${1:-}" = "--check" ]; then
  bad=""
  for f in $files; do
    if ! clang-format --style=file "$f" | cmp -s - "$f"; then bad="$bad $f"; fi
  done
  if [ -n "$bad" ]; then
    echo "format-check: these files need scripts/format.sh (clang-format):$bad"
    exit 1
  fi
  echo "format-check: ok"
else
  echo "$files" | xargs clang-format --style=file -i
fi
