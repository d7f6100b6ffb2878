#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Python binding as a user would, with pip and no network, into a fresh
# virtual environment (scripts/python-venv.sh), bundling the build's libferry-c; then runs
# its pytest suite against the build's ferryd and programs.
#   run.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

"$here/../../scripts/python-venv.sh" "$scratch/venv" "$build/lib/libferry-c.so"
# From the scratch directory, so that `import ferry` is the installed package, not the tree's.
cd "$scratch"
FERRY_BIN=$build/bin "$scratch/venv/bin/python" -m pytest -q -p no:cacheprovider \
  -c "$here/../pyproject.toml" --rootdir "$here" "$here"
