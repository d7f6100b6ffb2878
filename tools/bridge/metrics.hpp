// SPDX-License-Identifier: Apache-2.0
// tools/bridge/metrics.hpp: ferry-bridge's Prometheus metrics (prometheus-cpp, served on
// metrics_listen by its Exposer; docs/bridge.md lists them). Per route (label route="out 7"):
// messages and bytes each way, gaps, duplicates dropped, redeliveries, drops by reason,
// slow-consumer reports, request round trips and results; for the bridge: NATS connected,
// reconnects, the reconnect buffer's bytes and messages.
// Thread-safety: prometheus-cpp's metrics are atomic; the bridge updates them from its loop
// and the Exposer's thread reads them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "bridge/config.hpp"
#include "ferry/result.hpp"

namespace ferry::bridge {

struct RouteMetrics {
  prometheus::Counter* out_messages;
  prometheus::Counter* out_bytes;
  prometheus::Counter* in_messages;
  prometheus::Counter* in_bytes;
  prometheus::Counter* gaps;            // messages an origin's sequence skipped
  prometheus::Counter* duplicates;      // dropped as seen before
  prometheus::Counter* redeliveries;    // JetStream delivered it again
  prometheus::Counter* dropped_buffer;  // NATS away and the buffer full (drop_oldest, fail)
  prometheus::Counter* dropped_bus;     // the bus did not take it in time
  prometheus::Counter* slow_consumer;   // the NATS library dropped for this subscription
  prometheus::Counter* requests_ok;
  prometheus::Counter* requests_error;  // answered with an error (also no responder)
  prometheus::Counter* requests_timeout;
  prometheus::Histogram* request_seconds;
  prometheus::Gauge* remote_responders;  // request routes: 1 while one is advertised
};

class Metrics {
 public:
  explicit Metrics(const std::vector<Route>& routes);
  // Serves GET /metrics on `listen` ("ADDRESS:PORT"; port 0 picks one); returns the address
  // it listens on.
  Result<std::string> listen(const std::string& listen);

  RouteMetrics& route(std::size_t i) { return routes_[i]; }
  prometheus::Gauge& connected() { return *connected_; }
  prometheus::Counter& reconnects() { return *reconnects_; }
  prometheus::Counter& disconnects() { return *disconnects_; }
  prometheus::Gauge& buffer_bytes() { return *buffer_bytes_; }
  prometheus::Gauge& buffer_messages() { return *buffer_messages_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::vector<RouteMetrics> routes_;
  prometheus::Gauge* connected_ = nullptr;
  prometheus::Counter* reconnects_ = nullptr;
  prometheus::Counter* disconnects_ = nullptr;
  prometheus::Gauge* buffer_bytes_ = nullptr;
  prometheus::Gauge* buffer_messages_ = nullptr;
};

// "out 7", "serve 8": a route's label.
std::string route_label(const Route& r);

}  // namespace ferry::bridge
