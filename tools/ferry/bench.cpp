// ferry bench: the benchmark workloads (docs/bench.md), run by tools/bench/.
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench.hpp"
#include "cli.hpp"

namespace ferry::cli {

int run_bench(const Common& global, std::span<char* const> argv) {
  // The participants are this program again (`ferry bench --role ...`); they inherit the
  // session through the environment.
  if (!global.session.empty()) setenv("FERRY_SESSION", global.session.c_str(), 1);
  std::vector<char*> args(argv.begin(), argv.end());
  args.push_back(nullptr);
  return ferry::bench::run_bench(static_cast<int>(argv.size()), args.data(),
                                 {"/proc/self/exe", "bench"});
}

}  // namespace ferry::cli
