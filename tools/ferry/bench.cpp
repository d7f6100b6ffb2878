// SPDX-License-Identifier: Apache-2.0
// ferry bench: the benchmark workloads (docs/bench.md), run by bench/workload/.
#include <cstdlib>
#include <string>
#include <vector>

#include "cli.hpp"
#include "workload/bench.hpp"

namespace ferry::cli {

int run_bench(const Common& global, std::span<const std::string> argv) {
  // The participants are this program again (`ferry bench --role ...`); they inherit the
  // session through the environment.
  if (!global.session.empty()) setenv("FERRY_SESSION", global.session.c_str(), 1);
  return ferry::bench::run_bench({argv.begin(), argv.end()}, {"/proc/self/exe", "bench"});
}

}  // namespace ferry::cli
