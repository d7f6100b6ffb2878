// SPDX-License-Identifier: Apache-2.0
// ferry-bench: `ferry bench` as a program of its own (bench.hpp, docs/bench.md).
#include <span>
#include <string>
#include <vector>

#include "workload/bench.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> self{"/proc/self/exe"};
  const std::span<char* const> all(argv, static_cast<std::size_t>(argc));
  return ferry::bench::run_bench({all.begin() + (argc > 0 ? 1 : 0), all.end()}, self);
}
