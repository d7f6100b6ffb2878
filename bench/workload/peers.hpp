// SPDX-License-Identifier: Apache-2.0
// bench/workload/peers.hpp: the hook for the peers, other libraries' transports (ZeroMQ,
// iceoryx) measured with the same harness, scenarios and checks as ferry's.
//
// ferry, ferryd and libferry link none of those libraries. The peers' participants live in
// a program of their own, ferry-bench-peers (bench/peers/), whose main() calls run_bench()
// with its PeerTransports. `ferry bench` and ferry-bench, given --transport zmq or iceoryx,
// replace themselves (execv) with the ferry-bench-peers in their own directory, with the
// same arguments, so that the run, its output and its exit code are the same either way.
//
// Thread-safety: plain values.
#pragma once

#include "ferry/result.hpp"
#include "workload/options.hpp"

namespace ferry::bench {

class RoleContext;

inline constexpr const char* kPeersProgram = "ferry-bench-peers";

struct PeerTransports {
  // Runs one participant of a peer transport, whatever its role (the daemon's too);
  // returns the process's exit code.
  int (*run_role)(RoleContext& ctx) = nullptr;
  // Called once by the orchestrator, in its own process, before it starts anyone: what the
  // transport's run needs around it (iceoryx: a /tmp and /dev/shm of its own, for RouDi).
  // An error stops the run (exit 1).
  Result<void> (*prepare)(const Options& options) = nullptr;
};

}  // namespace ferry::bench
