# SPDX-License-Identifier: Apache-2.0
# ferry: the front door. `make demo` and `make test` are all a newcomer needs.
#
#   make deps    install the Debian packages the build, tests and benchmarks need
#   make build   Release build; binaries in build/bin/
#   make test    deps, build, every test: release suite, performance gate, ASan/UBSan
#                suite, TSan ring tests, libFuzzer runs, the install check, a build
#                without metrics, clang-format and clang-tidy
#   make demo    build, start ferryd, run 32 checked client processes through it for 10 s
#   make gateway-demo  two buses talking through two ferry-gateways, with the pool's state
#   make bench   ferry beside Unix sockets, ZeroMQ and iceoryx: bench/results/latest.md, .png;
#                the gateway beside a plain TLS WebSocket echo: bench/results/gateway.md;
#                the bridge beside plain NATS clients: bench/results/bridge.md;
#                ferry from Python beside multiprocessing and a Unix socket: bench/results/python.md
#   make perf-gate  ferry vs Unix sockets on fanin and reqrep, fails below 3x / 1.5x (<1 min;
#                   on a machine busy with other work it reports the ratios, see the script)
#   make microbench  micro-benchmarks (build/bin/ferry_microbench)
#   make format  reformat the sources with clang-format

SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE := cmake
CTEST := ctest --output-on-failure --no-tests=error
# ccache (from make deps) when present: the five builds of make test compile many of the
# same files, and a later run in another clone reuses them (paths relative to the clone).
CCACHE = $(shell command -v ccache 2>/dev/null)
export CCACHE_BASEDIR := $(CURDIR)
CONFIGURE = $(CMAKE) -S . -G Ninja -Wno-dev --log-level=WARNING \
  $(if $(CCACHE),-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

.PHONY: all help demo gateway-demo deps build test test-release test-asan test-tsan test-fuzz test-install test-nometrics \
        lint tidy format bench microbench perf-gate clean

all: build

help:
	@sed -n 's/^#   make/make/p' Makefile

deps:
	@scripts/deps.sh

demo: build
	@scripts/demo.sh

# Two buses talking through two ferry-gateways, with the pool's state (docs/gateway.md).
gateway-demo: build
	@scripts/gateway-demo.sh

build: deps
	@$(CONFIGURE) -B build -DCMAKE_BUILD_TYPE=Release -DFERRY_WERROR=ON
	@$(CMAKE) --build build -j $(JOBS)

test: build
	@$(MAKE) --no-print-directory test-release perf-gate test-asan test-tsan test-fuzz test-install \
	  test-nometrics lint tidy
	@echo "make test: all passed"

test-release: build
	@echo "== release suite"
	@$(CTEST) --test-dir build -j $(JOBS)

test-asan: deps
	@echo "== ASan/UBSan suite"
	@$(CONFIGURE) -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON \
	  -DFERRY_SANITIZE=address,undefined -DFERRY_BUILD_BENCH=OFF
	@$(CMAKE) --build build-asan -j $(JOBS)
	@FERRY_TEST_SCALE=0.3 $(CTEST) --test-dir build-asan -j $(JOBS)

test-tsan: deps
	@echo "== ThreadSanitizer ring tests"
	@$(CONFIGURE) -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_WERROR=ON \
	  -DFERRY_SANITIZE=thread -DFERRY_BUILD_BENCH=OFF -DFERRY_BUILD_TOOLS=OFF
	@$(CMAKE) --build build-tsan -j $(JOBS) --target ferry_unit_tests ferry_capi_tests
	@FERRY_TEST_SCALE=0.2 TSAN_OPTIONS=halt_on_error=1 $(CTEST) --test-dir build-tsan -L unit -j $(JOBS)

test-fuzz: deps
	@echo "== libFuzzer, $(FUZZ_SECONDS)s per target"
	@$(CONFIGURE) -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_BUILD_TESTS=OFF -DFERRY_BUILD_BENCH=OFF -DFERRY_BUILD_TOOLS=OFF \
	  -DFERRY_BUILD_FUZZ=ON -DFERRY_SANITIZE=address,undefined \
	  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link
	@$(CMAKE) --build build-fuzz -j $(JOBS)
	@scripts/run-fuzzers.sh build-fuzz/bin $(FUZZ_SECONDS)

# ferryd built without its Prometheus exporter (FERRY_METRICS=OFF) still builds, and
# refuses --metrics-listen with a message that says why.
test-nometrics: deps
	@echo "== build without metrics"
	@$(CONFIGURE) -B build-nometrics -DCMAKE_BUILD_TYPE=Debug -DFERRY_WERROR=ON \
	  -DFERRY_METRICS=OFF -DFERRY_BUILD_BENCH=OFF
	@$(CMAKE) --build build-nometrics -j $(JOBS) --target ferry_metrics_test
	@build-nometrics/bin/ferry_metrics_test --gtest_brief=1

test-install: build
	@echo "== install check (find_package, pkg-config, the C++ and shell blocks of the README and docs)"
	@tests/install/check.sh build

lint:
	@echo "== clang-format check, shared-memory atomics check"
	@clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')
	@! grep -n 'std::atomic<' $$(git ls-files 'src/*layout*.hpp') || \
	  { echo "lint: shared-memory layouts must use ShmAtomic, not std::atomic" >&2; exit 1; }

# clang-tidy on every source file; like ccache, a file that passed is not checked again until
# it, a header it includes, its flags or .clang-tidy change (scripts/tidy.py).
tidy: build
	@echo "== clang-tidy"
	@scripts/tidy.py build $(JOBS) $$(git ls-files 'src/*.cpp' 'tools/*.cpp' 'bench/workload/*.cpp' \
	  'bench/peers/*.cpp')

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp' '*.h' '*.c')

bench: build
	@FERRY_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null) bench/scripts/matrix.sh build/bin
	@echo "== ferry-gateway beside a plain TLS WebSocket echo: bench/results/gateway.md"
	@bench/scripts/gateway.sh > bench/results/gateway.md.new && mv bench/results/gateway.md.new bench/results/gateway.md
	@cat bench/results/gateway.md
	@echo "== ferry-bridge beside plain NATS clients: bench/results/bridge.md"
	@bench/scripts/bridge.sh > bench/results/bridge.md.new && mv bench/results/bridge.md.new bench/results/bridge.md
	@cat bench/results/bridge.md
	@echo "== ferry from Python beside multiprocessing and a Unix socket: bench/results/python.md"
	@bench/scripts/python.sh build/bin > bench/results/python.md.new && mv bench/results/python.md.new bench/results/python.md
	@cat bench/results/python.md

perf-gate: build
	@echo "== performance gate (ferry vs Unix sockets)"
	@bench/scripts/perf-gate.sh build/bin

microbench: build
	@build/bin/ferry_microbench --benchmark_min_time=0.5

clean:
	@rm -rf build build-asan build-tsan build-fuzz build-nometrics
