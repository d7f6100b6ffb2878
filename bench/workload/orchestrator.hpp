// SPDX-License-Identifier: Apache-2.0
// bench/workload/orchestrator.hpp: the process the user started. It starts the transport's
// daemon if it has one, the server, the idle connections and the clients as separate
// processes, releases the clients together, shows progress, collects every result and
// prints the run's summary.
// Thread-safety: the main thread of a process that does nothing else.
#pragma once

#include <string>
#include <vector>

#include "workload/options.hpp"
#include "workload/peers.hpp"

namespace ferry::bench {

// Returns the exit code: 0, or 1 if the run failed or counted errors. `peers`: given when
// the transport is one of them (peers.hpp).
int orchestrate(const Options& options, const std::vector<std::string>& self_command,
                const PeerTransports* peers);

}  // namespace ferry::bench
