// bench/workload/roles.hpp: the participants' entry points, one per transport and role.
// Each returns the process's exit code; results and errors go to the result pipe.
// Thread-safety: one thread per participant process.
#pragma once

#include "workload/role.hpp"

namespace ferry::bench {

// fanout: the server is the bus (ferryd's, or the uds relay), the clients subscribe and
// the publisher sends.
int run_ferry_server(RoleContext& ctx);  // ferry_roles.cpp
int run_ferry_client(RoleContext& ctx);
int run_ferry_idle(RoleContext& ctx);
int run_ferry_publisher(RoleContext& ctx);

int run_uds_server(RoleContext& ctx);  // uds_roles.cpp
int run_uds_client(RoleContext& ctx);
int run_uds_idle(RoleContext& ctx);
int run_uds_publisher(RoleContext& ctx);

}  // namespace ferry::bench
