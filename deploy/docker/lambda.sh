#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packs boxoffice-ticketgen as an AWS Lambda zip for the provided.al2023 custom runtime.
#   deploy/docker/lambda.sh BINARY OUT.zip        (needs ldd, patchelf, zip; run on Debian 12)
# The zip holds:
#   bootstrap   the binary itself, program interpreter = /var/task/lib/ld-linux-x86-64.so.2 and
#               DT_RPATH = /var/task/lib (RPATH, not RUNPATH: it is searched before Lambda's
#               LD_LIBRARY_PATH, which lists /lib64 first, and it also applies to the libraries'
#               own dependencies; absolute, as $ORIGIN needs /proc)
#   lib/        every shared object ldd resolves, glibc and the dynamic loader included
#   certs/      Debian's CA bundle (Amazon Linux keeps its bundle under another name)
# Why glibc travels too: a binary linked on Debian 12 needs glibc 2.36 symbol versions, and
# Amazon Linux 2023 has glibc 2.34, so "GLIBC_2.36 not found" otherwise. Lambda unpacks the zip
# at /var/task (LAMBDA_TASK_ROOT), which is where the interpreter path points. docs/deploy.md.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 BINARY OUT.zip" >&2
  exit 2
fi
bin=$1
out=$2
task_root=${LAMBDA_TASK_ROOT_PATH:-/var/task}
for tool in ldd patchelf zip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "lambda.sh: $tool is missing (apt-get install patchelf zip)" >&2
    exit 1
  }
done
[ -x "$bin" ] || {
  echo "lambda.sh: $bin is not an executable" >&2
  exit 1
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/certs"

# "libfoo.so.1 => /usr/lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" and the loader's own line
# "/lib64/ld-linux-x86-64.so.2 (0x...)". A "not found" stops the packing.
if ldd "$bin" | grep -q 'not found'; then
  ldd "$bin" >&2
  echo "lambda.sh: unresolved libraries" >&2
  exit 1
fi
loader=""
while read -r name arrow path _; do
  if [ "$arrow" = "=>" ] && [ "${path#/}" != "$path" ]; then
    cp -L "$path" "$stage/lib/$name"
  elif [ "${name#/}" != "$name" ] && [ -e "$name" ]; then
    loader=$(basename "$name")
    cp -L "$name" "$stage/lib/$loader"
  fi
done < <(ldd "$bin")
[ -n "$loader" ] || {
  echo "lambda.sh: no dynamic loader found for $bin" >&2
  exit 1
}

cp "$bin" "$stage/bootstrap"
chmod 0755 "$stage/bootstrap" "$stage/lib/$loader"
patchelf --set-interpreter "$task_root/lib/$loader" --force-rpath --set-rpath "$task_root/lib" \
  "$stage/bootstrap"
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$stage/certs/ca-certificates.crt"
fi

mkdir -p "$(dirname "$out")"
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
rm -f "$out_abs"
(cd "$stage" && zip -q -r -X "$out_abs" bootstrap lib certs)
echo "lambda.sh: $out_abs ($(du -k "$out_abs" | cut -f1) KiB, $(find "$stage/lib" -type f | wc -l) libraries)"
