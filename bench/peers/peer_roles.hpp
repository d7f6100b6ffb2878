// SPDX-License-Identifier: Apache-2.0
// bench/peers/peer_roles.hpp: ferry-bench-peers's participants (bench/workload/peers.hpp),
// one entry point per transport. Each returns the process's exit code; results and errors
// go to the result pipe, as for the transports of bench/workload (roles.hpp).
// Thread-safety: one thread per participant process.
#pragma once

#include "workload/role.hpp"

namespace ferry::bench {

int run_zmq_role(RoleContext& ctx);  // zmq_roles.cpp: server and client

}  // namespace ferry::bench
