#!/bin/bash
# Installs the build in $1 into a scratch prefix, then builds a consumer project against
# it twice: through find_package(ferry) and through pkg-config.
set -euo pipefail
build=$1
root=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$root/consumer" -B "$scratch/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -Wno-dev --log-level=WARNING >/dev/null
cmake --build "$scratch/cmake" >/dev/null
"$scratch/cmake/consumer"

export PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig:$scratch/prefix/lib/x86_64-linux-gnu/pkgconfig"
# shellcheck disable=SC2046
g++ "$root/consumer/main.cpp" -o "$scratch/pc-consumer" $(pkg-config --cflags --libs ferry)
"$scratch/pc-consumer"
