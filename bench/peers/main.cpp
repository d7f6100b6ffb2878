// SPDX-License-Identifier: Apache-2.0
// ferry-bench-peers: ferry bench over ZeroMQ and iceoryx (bench/workload/peers.hpp,
// docs/bench.md). `ferry bench --transport zmq|iceoryx` runs it; it takes the same arguments.
#include <span>
#include <string>
#include <vector>

#include "peer_roles.hpp"
#include "workload/bench.hpp"

namespace {

int run_role(ferry::bench::RoleContext& ctx) {
  using ferry::bench::Role;
  const ferry::bench::Options& o = ctx.options();
  if (o.transport == ferry::bench::Transport::zmq) return ferry::bench::run_zmq_role(ctx);
  if (o.role == Role::daemon) return ferry::bench::run_iceoryx_roudi(ctx);
  return ferry::bench::run_iceoryx_role(ctx);
}

ferry::Result<void> prepare(const ferry::bench::Options& options) {
  if (options.transport == ferry::bench::Transport::iceoryx) {
    return ferry::bench::prepare_iceoryx_run(options);
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  static constexpr ferry::bench::PeerTransports kPeers{run_role, prepare};
  const std::vector<std::string> self{"/proc/self/exe"};
  const std::span<char* const> all(argv, static_cast<std::size_t>(argc));
  return ferry::bench::run_bench({all.begin() + (argc > 0 ? 1 : 0), all.end()}, self, &kPeers);
}
