// SPDX-License-Identifier: Apache-2.0
// bench/workload/bench.cpp: run_bench(), the entry point for the orchestrator and every
// participant (bench.hpp).
#include "workload/bench.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/process.hpp"
#include "workload/options.hpp"
#include "workload/orchestrator.hpp"
#include "workload/role.hpp"
#include "workload/roles.hpp"

namespace ferry::bench {

namespace {

int run_role(const Options& options, const PeerTransports* peers) {
  auto ctx = RoleContext::open(options);
  if (!ctx) {
    std::fprintf(stderr, "ferry bench: %s\n", ctx.error().message().c_str());
    return 2;
  }
  raise_fd_limit();
  if (is_peer(options.transport)) return peers->run_role(*ctx);
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
    case Role::parent:
    case Role::daemon: break;  // (only the peers have a daemon)
  }
  return 2;
}

// Replaces this process with ferry-bench-peers from this program's directory, with the same
// arguments; returns only if that fails.
int exec_peers(const std::vector<std::string>& args, Transport transport) {
  const std::string path = tools::executable_directory() + "/" + kPeersProgram;
  std::vector<std::string> all{path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(all.size() + 1);
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::execv(path.c_str(), argv.data());
  const int err = errno;
  std::fprintf(stderr,
               "ferry bench: --transport %s runs in %s, which could not be started (%s); it is "
               "built beside ferry (FERRY_BUILD_BENCH, with libzmq3-dev and libiceoryx-posh-dev "
               "from make deps)\n",
               std::string(to_string(transport)).c_str(), path.c_str(), std::strerror(err));
  return 1;
}

}  // namespace

int run_bench(std::vector<std::string> args, const std::vector<std::string>& self_command,
              const PeerTransports* peers) {
  const std::vector<std::string> given = args;
  auto options = parse_options(std::move(args));
  if (!options) {
    std::fprintf(stderr, "ferry bench: %s\n", options.error().message().c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (is_peer(options->transport) && peers == nullptr) {
    return exec_peers(given, options->transport);
  }
  if (options->role != Role::parent) return run_role(*options, peers);
  if (self_command.empty()) {
    std::fprintf(stderr, "ferry bench: no command to start the participants with\n");
    return 2;
  }
  return orchestrate(*options, self_command, peers);
}

}  // namespace ferry::bench
