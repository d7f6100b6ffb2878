// SPDX-License-Identifier: Apache-2.0
// bench/workload/bench.cpp: run_bench(), the entry point for the orchestrator and every
// participant (bench.hpp).
#include "workload/bench.hpp"

#include <cstdio>
#include <string_view>
#include <vector>

#include "workload/options.hpp"
#include "workload/orchestrator.hpp"
#include "workload/role.hpp"
#include "workload/roles.hpp"

namespace ferry::bench {

namespace {

int run_role(const Options& options) {
  auto ctx = RoleContext::open(options);
  if (!ctx) {
    std::fprintf(stderr, "ferry bench: %s\n", ctx.error().message().c_str());
    return 2;
  }
  raise_fd_limit();
  const bool uds = options.transport == Transport::uds;
  if (options.transport == Transport::naive) {
    if (options.role == Role::server) return run_naive_server(*ctx);
    if (options.role == Role::client) return run_naive_client(*ctx);
    return 2;  // the naive floor has no idle connections or publisher (parse_options)
  }
  switch (options.role) {
    case Role::server: return uds ? run_uds_server(*ctx) : run_ferry_server(*ctx);
    case Role::client:
    case Role::publisher: return uds ? run_uds_client(*ctx) : run_ferry_client(*ctx);
    case Role::idle: return uds ? run_uds_idle(*ctx) : run_ferry_idle(*ctx);
    case Role::subscriber:  // the bus scenario's, over ferry only (parse_options)
    case Role::requester:
    case Role::responder: return run_ferry_client(*ctx);
    case Role::parent: break;
  }
  return 2;
}

}  // namespace

int run_bench(std::vector<std::string> args, const std::vector<std::string>& self_command) {
  auto options = parse_options(std::move(args));
  if (!options) {
    std::fprintf(stderr, "ferry bench: %s\n", options.error().message().c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (options->role != Role::parent) return run_role(*options);
  if (self_command.empty()) {
    std::fprintf(stderr, "ferry bench: no command to start the participants with\n");
    return 2;
  }
  return orchestrate(*options, self_command);
}

}  // namespace ferry::bench
