#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scripts/python.sh BIN_DIR: ferry from Python beside multiprocessing.Pipe,
# multiprocessing.Queue and a Unix socket (bench/python/bench.py; docs/performance.md, "From
# Python"). Installs the binding as python/tests/run.sh does, with pip and no network, into a
# fresh virtual environment over Debian's Python, bundling BIN_DIR/../lib/libferry-c.so; then
# runs the benchmark and prints its Markdown report. About a minute; PYBENCH_SECONDS (1 s a
# run) and PYBENCH_REPS (3) change that.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$1" && pwd)
library=$(cd "$bin/../lib" && pwd)/libferry-c.so
[ -f "$library" ] || { echo "python.sh: $library is missing (make build)" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ferry-pybench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# pip builds in the source directory: build from a copy of the package's sources and the
# ferry.h it bundles, so that nothing is left in the tree and the python test (which builds in
# python/) may run at the same time.
mkdir -p "$scratch/src/python" "$scratch/src/include/ferry"
cp -r "$root/python/ferry" "$root/python/setup.py" "$root/python/pyproject.toml" "$scratch/src/python/"
cp "$root/include/ferry/ferry.h" "$scratch/src/include/ferry/"
/usr/bin/python3 -m venv --system-site-packages "$scratch/venv"
FERRY_LIBRARY=$library "$scratch/venv/bin/pip" install --quiet --no-build-isolation --no-index \
  --disable-pip-version-check "$scratch/src/python" >"$scratch/pip.log" 2>&1 ||
  { cat "$scratch/pip.log" >&2; echo "python.sh: pip install of the binding failed" >&2; exit 1; }

command="bench/scripts/python.sh $1"
for v in PYBENCH_SECONDS PYBENCH_REPS; do
  [ -z "${!v:-}" ] || command="$v=${!v} $command"
done
# From the scratch directory, so that `import ferry` is the installed package, not the tree's.
cd "$scratch"
"$scratch/venv/bin/python" "$root/bench/python/bench.py" --command "$command"
