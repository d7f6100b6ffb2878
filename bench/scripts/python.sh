#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scripts/python.sh BIN_DIR: ferry from Python beside multiprocessing.Pipe,
# multiprocessing.Queue and a Unix socket (bench/python/bench.py; docs/performance.md, "From
# Python"). Installs the binding with pip into a fresh virtual environment
# (scripts/python-venv.sh), bundling BIN_DIR/../lib/libferry-c.so; then runs the benchmark and
# prints its Markdown report. About a minute; PYBENCH_SECONDS (1 s a run) and PYBENCH_REPS (3)
# change that.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$1" && pwd)
library=$(cd "$bin/../lib" && pwd)/libferry-c.so
[ -f "$library" ] || { echo "python.sh: $library is missing (make build)" >&2; exit 1; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ferry-pybench.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
"$root/scripts/python-venv.sh" "$scratch/venv" "$library"

command="bench/scripts/python.sh $1"
for v in PYBENCH_SECONDS PYBENCH_REPS; do
  [ -z "${!v:-}" ] || command="$v=${!v} $command"
done
# From the scratch directory, so that `import ferry` is the installed package, not the tree's.
cd "$scratch"
"$scratch/venv/bin/python" "$root/bench/python/bench.py" --command "$command"
