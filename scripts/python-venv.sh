#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scripts/python-venv.sh DIR LIBRARY: a fresh virtual environment in DIR over Debian's
# Python (which brings cffi and pytest), with ferry's Python binding installed by pip as a
# user would, with no network, bundling LIBRARY (a built libferry-c.so). pip builds from a
# copy of the sources, so nothing is left in the tree and two installs may run at once.
# Used by python/tests/run.sh and bench/scripts/python.sh.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DIR LIBRARY" >&2; exit 2; }
dir=$1 library=$2
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$library" ] || { echo "python-venv: $library is missing (make build)" >&2; exit 1; }
src=$(mktemp -d "${TMPDIR:-/tmp}/ferry-python-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
mkdir -p "$src/python" "$src/include/ferry"
cp -r "$root/python/ferry" "$root/python/setup.py" "$root/python/pyproject.toml" "$src/python/"
cp "$root/include/ferry/ferry.h" "$src/include/ferry/"
/usr/bin/python3 -m venv --system-site-packages "$dir"
FERRY_LIBRARY=$library "$dir/bin/pip" install --quiet --no-build-isolation --no-index \
  --disable-pip-version-check "$src/python" >"$src/pip.log" 2>&1 ||
  { cat "$src/pip.log" >&2; echo "python-venv: pip install of the binding failed" >&2; exit 1; }
