#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# libferry-c exports exactly the functions include/ferry/ferry.h declares, each under the
# library's own symbol version, and nothing else (no C++ symbol of the library it wraps).
#   exports.sh LIBRARY HEADER VERSION_NODE
set -euo pipefail
lib=$1 header=$2 node=$3
declared=$(grep -o 'FERRY_C_API .*\bferry_[a-z0-9_]*(' "$header" | grep -o 'ferry_[a-z0-9_]*($' |
  tr -d '(' | sort)
exported=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}' | sort)
expected=$(sed "s/\$/@@$node/" <<<"$declared")
if [ "$exported" != "$expected" ]; then
  echo "exports: $lib does not export exactly ferry.h's functions at $node:" >&2
  diff <(echo "$expected") <(echo "$exported") >&2 || true
  exit 1
fi
echo "exports: $(wc -l <<<"$declared") functions, all at $node, nothing else"
