// SPDX-License-Identifier: Apache-2.0
// bench/peers/peer_roles.hpp: ferry-bench-peers's participants (bench/workload/peers.hpp),
// one entry point per transport. Each returns the process's exit code; results and errors
// go to the result pipe, as for the transports of bench/workload (roles.hpp).
// Thread-safety: one thread per participant process.
#pragma once

#include "ferry/result.hpp"
#include "workload/options.hpp"
#include "workload/role.hpp"

namespace ferry::bench {

int run_zmq_role(RoleContext& ctx);       // zmq_roles.cpp: server and client
int run_iceoryx_role(RoleContext& ctx);   // iceoryx_roles.cpp: server and client
int run_iceoryx_roudi(RoleContext& ctx);  // iceoryx_roudi.cpp: the daemon, RouDi
// The orchestrator's, before anyone starts: a /tmp and /dev/shm of the run's own for RouDi
// and its applications, or else the lock that serializes such runs (iceoryx_roudi.cpp).
Result<void> prepare_iceoryx_run(const Options& options);

}  // namespace ferry::bench
