#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package ferry's build, tests and benchmarks need.
# Idempotent and quiet when everything is already there.
set -eu

PACKAGES="
  build-essential cmake ninja-build pkg-config git ccache
  clang lld libclang-rt-14-dev clang-format clang-tidy
  libgtest-dev libgmock-dev libbenchmark-dev
  liblz4-dev libzstd-dev libflatbuffers-dev flatbuffers-compiler libtomlplusplus-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  prometheus-cpp-dev prometheus curl
  libboost-dev libssl-dev openssl python3 python3-websockets nginx-light
  python3-cffi python3-pytest python3-venv python3-pip python3-setuptools python3-wheel
  libnats-dev nats-server libjemalloc-dev
  libzmq3-dev libiceoryx-posh-dev iceoryx
  util-linux procps
  jq gnuplot-nox
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to apt-get install:$missing" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
