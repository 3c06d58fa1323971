#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes the AWS stack's terraform outputs into the aws overlay and the Argo CD manifests: every
# REPLACE_<NAME> becomes the output <name> (lower case), REPLACE_IMAGE_TAG the image tag and
# REPLACE_GIT_REPO_URL the repository Argo CD tracks. Commit the result (docs/deploy.md step 5).
#   deploy/scripts/fill-from-terraform.sh --tag TAG --repo URL [--outputs FILE] [--root DIR]
# FILE is `terraform output -json` of deploy/terraform/aws (default: run it now); DIR is the
# deploy/ directory to fill (default: the one this script is in). Fails, changing nothing, when
# a placeholder has no value.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
outputs=""
tag=""
repo=""
while [ "$#" -gt 0 ]; do
  case $1 in
    --tag) tag=$2; shift 2 ;;
    --repo) repo=$2; shift 2 ;;
    --outputs) outputs=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    *) echo "usage: $0 --tag TAG --repo URL [--outputs FILE] [--root DIR]" >&2; exit 2 ;;
  esac
done
if [ -z "$tag" ] || [ -z "$repo" ]; then
  echo "fill-from-terraform: --tag and --repo are required" >&2
  exit 2
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if [ -n "$outputs" ]; then
  cp "$outputs" "$tmp"
else
  terraform -chdir="$root/terraform/aws" output -json >"$tmp"
fi

python3 - "$tmp" "$tag" "$repo" "$root/k8s/overlays/aws" "$root/argocd" <<'PY'
import glob, json, os, re, sys
outputs_file, tag, repo, *dirs = sys.argv[1:]
values = {"IMAGE_TAG": tag, "GIT_REPO_URL": repo}
for name, out in json.load(open(outputs_file)).items():
    if isinstance(out.get("value"), (str, int, float)):
        values[name.upper()] = str(out["value"])
files = sorted(f for d in dirs for f in glob.glob(os.path.join(d, "*.yaml")))
texts = {f: open(f).read() for f in files}
wanted = {m for t in texts.values() for m in re.findall(r"REPLACE_([A-Z0-9_]+)", t)}
missing = sorted(wanted - values.keys())
if missing:
    sys.exit("fill-from-terraform: no value for " + ", ".join("REPLACE_" + m for m in missing))
for f, t in texts.items():
    new = re.sub(r"REPLACE_([A-Z0-9_]+)", lambda m: values[m.group(1)], t)
    if new != t:
        with open(f, "w") as out:
            out.write(new)
        print("fill-from-terraform: " + os.path.relpath(f))
PY
