// SPDX-License-Identifier: Apache-2.0
// ferryd/metrics.hpp: ferryd's Prometheus exporter (--metrics-listen, docs/observability.md).
//
// Loads ferry-metrics.so (prometheus-cpp; see tools/ferry/metrics/module_abi.h for why a module)
// only when metrics are switched on, and answers each scrape from shared memory: the endpoint's
// counters and its connections' rings (ferry::read_process_stat), plus the handler-latency
// histogram, the bus's counters (Bus::stats()) and ferryd's own. Nothing on the message path waits
// for a scrape. Thread-safety: start() and the destructor on ferryd's main thread; scrapes run on
// the module's HTTP thread and read only shared memory and atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "ferry/result.hpp"
#include "ferry/server.hpp"
#include "ferryd/bus.hpp"

namespace ferry::ferryd {

// What ferryd counts itself, for the exporter.
struct DaemonCounters {
  std::atomic<std::uint64_t> stale_removed{0};  // objects of dead owners removed
};

// Publishes ferryd's own counters (ferryd/published.hpp) in the server's stat segment, as
// they are now: ferryd counts them at start-up, before the server exists (and at shutdown,
// after it is gone).
void publish_daemon_counters(ferry::Server& server, const DaemonCounters& counters);

class Metrics {
 public:
  // Loads the module and listens on `listen` (already normalized: "address:port").
  // Errors name the module searched for, or the address that could not be used. Scrapes
  // read `server`, `bus` and `daemon` by their addresses until the Metrics is destroyed:
  // none of them may be moved or destroyed before it.
  static ferry::Result<std::unique_ptr<Metrics>> start(const std::string& listen,
                                                       const ferry::Server& server, const Bus& bus,
                                                       const std::string& endpoint,
                                                       const DaemonCounters& daemon);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The port it listens on (the one the system chose for port 0).
  int port() const;
  // The module that was loaded.
  const std::string& module_path() const noexcept { return module_path_; }

  struct Impl;

 private:
  explicit Metrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string module_path_;
};

}  // namespace ferry::ferryd
