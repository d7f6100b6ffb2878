// tools/demo/report.hpp: what ferry-demo prints: the live counts and the final table.
// Thread-safety: plain functions, called by the orchestrator only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "board.hpp"
#include "participants.hpp"

namespace ferry::demo {

// A participant process, as the orchestrator started it and found it ended.
struct Child {
  pid_t pid = -1;
  Role role = Role::server;
  std::uint32_t index = 0;
  bool running = false;
  int status = 0;
};

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n);
// "1 server", "4 servers".
std::string counted(std::uint64_t n, const char* what);
// The messages the participants of `role` have counted so far.
std::uint64_t sum_counts(const Shared& shared, const std::vector<Child>& children, Role role);
// Prints the table (unless the run never started) and returns the exit status: 0 when
// every message arrived once, in order and intact and nobody had a problem, else 1.
int print_report(const Plan& plan, const Shared& shared, const std::vector<Child>& children,
                 bool ran);

}  // namespace ferry::demo
