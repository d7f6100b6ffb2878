// SPDX-License-Identifier: Apache-2.0
// tools/demo/report.hpp: what ferry-demo prints: the final table from its participants'
// results (bench/workload/report.hpp), and the number formats of its progress line.
// Thread-safety: plain functions, called by the orchestrator only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "options.hpp"
#include "workload/participants.hpp"

namespace ferry::demo {

// Which participants play which part: indices into the orchestrator's Participants.
struct Cast {
  std::vector<std::size_t> servers;
  std::vector<std::size_t> requesters;
  std::vector<std::size_t> publishers;
  std::vector<std::size_t> subscribers;
};

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n);
// "1 server", "4 servers".
std::string counted(std::uint64_t n, const char* what);

// Prints the table and returns the exit status: 0 when every message arrived once, in
// order and intact and nobody had a problem, else 1. `problems`: what went wrong, in the
// participants' words. When the run never started (`ran` false), only the problems.
int print_report(const Plan& plan, const bench::Participants& ps, const Cast& cast,
                 const std::vector<std::string>& problems, bool ran);

}  // namespace ferry::demo
