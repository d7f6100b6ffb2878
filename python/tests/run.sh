#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Python binding as a user would, with pip and no network, into a fresh
# virtual environment over Debian's Python (which brings cffi and pytest), bundling the
# build's libferry-c; then runs its pytest suite against the build's ferryd and programs.
#   run.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

/usr/bin/python3 -m venv --system-site-packages "$scratch/venv"
FERRY_LIBRARY=$build/lib/libferry-c.so "$scratch/venv/bin/pip" install --quiet \
  --no-build-isolation --no-index --disable-pip-version-check "$here/.." >"$scratch/pip.log" 2>&1 ||
  { cat "$scratch/pip.log" >&2; echo "python: pip install of the binding failed" >&2; exit 1; }
rm -rf "$here/../build" "$here/../ferry.egg-info"   # what the in-tree build left
# From the scratch directory, so that `import ferry` is the installed package, not the tree's.
cd "$scratch"
FERRY_BIN=$build/bin "$scratch/venv/bin/python" -m pytest -q -p no:cacheprovider \
  -c "$here/../pyproject.toml" --rootdir "$here" "$here"
