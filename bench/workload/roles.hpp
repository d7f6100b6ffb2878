// SPDX-License-Identifier: Apache-2.0
// bench/workload/roles.hpp: the participants' entry points, one per transport and role.
// Each returns the process's exit code; results and errors go to the result pipe.
// Thread-safety: one thread per participant process.
#pragma once

#include "common/shared_region.hpp"
#include "workload/role.hpp"

namespace ferry::bench {

// fanout: the server is the bus (ferryd's, or the uds relay), the clients subscribe and
// the publisher (a client with Role::publisher) sends.
int run_ferry_server(RoleContext& ctx);  // ferry_roles.cpp
int run_ferry_client(RoleContext& ctx);
int run_ferry_idle(RoleContext& ctx);

int run_uds_server(RoleContext& ctx);  // uds_roles.cpp
int run_uds_client(RoleContext& ctx);
int run_uds_idle(RoleContext& ctx);

int run_naive_server(RoleContext& ctx);  // naive_roles.cpp
int run_naive_client(RoleContext& ctx);
// The orchestrator's: the region --rings-fd names, sized for the options' clients.
Result<tools::SharedRegion> create_naive_rings(const Options& options);

}  // namespace ferry::bench
