// SPDX-License-Identifier: Apache-2.0
// stat.hpp: what ferry servers are doing, read from the outside (ferry stat, ferry
// exporter; docs/observability.md).
//
// Every counter lives in shared memory: the endpoint's and the peers' in the server's stat
// segment (which only the server writes), each connection's rings' in its connection
// segment. A reader finds a server's segments through /proc/<pid>/fd (the server keeps one
// descriptor per connection for this), maps them read-only and reads them: it never talks
// to the server and never writes. Reading another process needs the same user (or root),
// as /proc/<pid>/fd does.
//
// Counters are consistent per endpoint: a reading of the closed connections' totals and
// of the live connections is repeated (for up to about 25 ms) until no connection closed
// while it was taken, so none is counted twice or lost, and sums over connections never go
// down from one reading to the next (unless a client lowers its own live counters). Gauges
// (occupancy) are a moment's view. A client can write its own connection's ring counters;
// treat them as its word: ConnectionStat shows them as they are, while DirectionTotals sums
// them bounded by each connection's lifetime (docs/observability.md), saturating.
// Thread-safety: plain functions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/export.hpp"
#include "ferry/result.hpp"
#include "ferry/ring.hpp"
#include "ferry/server.hpp"

namespace ferry {

struct ConnectionStat {
  std::uint64_t id = 0;
  std::uint32_t pid = 0;  // the client's, as the kernel told the server (SO_PEERCRED)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string name;              // from the client's hello
  std::uint32_t reconnects = 0;  // times the client connected again before this connection
  std::int64_t connected_unix_ns = 0;
  RingStats in;   // client -> server
  RingStats out;  // server -> client
};

// One direction summed over an endpoint's connections: counters include closed
// connections, each connection's bounded by its lifetime, and saturate at UINT64_MAX; used,
// capacity and high-water cover the live ones.
struct DirectionTotals {
  std::uint64_t full_waits = 0;  // the producer found the ring full and waited (backpressure)
  std::uint64_t full_wait_ns = 0;
  std::uint64_t producer_wakes = 0;  // wake-up syscalls the producer made
  std::uint64_t consumer_wakes = 0;  // wake-up syscalls the consumer made
  std::uint64_t errors = 0;          // frames the consumer refused (CRC, length, sequence)
  std::uint64_t used_bytes = 0;
  std::uint64_t capacity_bytes = 0;
  std::uint64_t high_water_bytes = 0;  // the largest of the live connections'
};

// A value the server's process published beside the endpoint's counters
// (Server::publish_metric), read from its stat segment.
struct PublishedMetric {
  std::string series;  // as published: name{label="value",...}
  std::string name;    // the series up to its labels
  std::vector<std::pair<std::string, std::string>> labels;
  std::uint64_t value = 0;
  // A counter by Prometheus' convention (the name ends in _total), else a gauge.
  bool counter() const noexcept { return name.ends_with("_total"); }
};

struct EndpointStat {
  std::string session;
  std::string endpoint;
  long pid = 0;  // the server's process
  std::int64_t started_unix_ns = 0;
  std::uint32_t max_connections = 0;
  ServerStats server;
  DirectionTotals in;                       // client -> server
  DirectionTotals out;                      // server -> client
  std::vector<ConnectionStat> connections;  // by id
  // The handler-latency histogram (zero unless the server times handlers:
  // ServerOptions::handler_histogram) and the published values, in the order published;
  // both empty for a server of a version before them, and a name that does not parse is
  // left out.
  bool handler_histogram = false;
  LatencyHistogram handler_latency;
  std::vector<PublishedMetric> metrics;
};

struct SessionStat {
  std::string session;
  std::string directory;
  std::vector<EndpointStat> endpoints;  // by name
  // Servers whose lock names a process that could not be read, and why (a person can act
  // on each: another user's server, a process that just exited); and descriptors of theirs
  // that named a ferry segment but were skipped (not sealed, too small, not a file), and why.
  std::vector<std::string> problems;
};

// Every server of `session` (empty: FERRY_SESSION, else "default") that holds a lock in its
// session directory. not_found if the session has no directory.
FERRY_API Result<SessionStat> read_session_stat(std::string_view session = {});

// The servers of one process (0: this one), every session. permission if /proc/<pid>/fd
// cannot be read, not_found if the process is gone.
FERRY_API Result<std::vector<EndpointStat>> read_process_stat(pid_t pid);

}  // namespace ferry
