// SPDX-License-Identifier: Apache-2.0
// bench/workload/bench.hpp: `ferry bench`, the workload benchmark (workloads defined in
// docs/bench.md).
//
// run_bench() is the whole command: it parses the options, starts every participant as a
// separate process (fork + exec of `self_command` with hidden role arguments), collects
// their results and prints them. The same entry point runs the participants: a child
// process re-enters run_bench() with its role arguments and does its part.
//
// Thread-safety: call it from the main thread of a process that does nothing else (it
// forks, waits for its children and installs signal handlers for SIGINT and SIGTERM).
#pragma once

#include <string>
#include <vector>

#include "workload/peers.hpp"

namespace ferry::bench {

// `args`: the words after "bench" (no program name). `self_command`: how to run this same program
// in bench mode, e.g.
// {"/proc/self/exe", "bench"} for `ferry bench`, {"/proc/self/exe"} for ferry-bench.
// `peers`: ferry-bench-peers's transports; without them, --transport zmq or iceoryx replaces
// this process with ferry-bench-peers (peers.hpp).
// Returns the exit code: 0 ok, 1 the run failed or found errors, 2 a usage error.
int run_bench(std::vector<std::string> args, const std::vector<std::string>& self_command,
              const PeerTransports* peers = nullptr);

}  // namespace ferry::bench
