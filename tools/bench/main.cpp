// ferry-bench: `ferry bench` as a program of its own (bench.hpp, docs/bench.md).
#include <string>
#include <vector>

#include "bench/bench.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> self{"/proc/self/exe"};
  return ferry::bench::run_bench(argc > 0 ? argc - 1 : 0, argc > 0 ? argv + 1 : argv, self);
}
