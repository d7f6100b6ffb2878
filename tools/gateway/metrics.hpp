// SPDX-License-Identifier: Apache-2.0
// tools/gateway/metrics.hpp: ferry-gateway's Prometheus metrics (docs/gateway.md lists
// them): the counters its parts keep, the text exposition format, and the HTTP endpoint
// that serves it at /metrics from the gateway's own event loop.
// Thread-safety: one thread (the gateway's loop).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "ferry/result.hpp"

namespace ferry::gateway {

// Observations in fixed buckets (upper bounds in seconds), as Prometheus histograms are.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double seconds) noexcept;
  // The _bucket, _sum and _count lines of `name` with `labels` ("upstream=\"b\"").
  void write(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// What one upstream's pool has done.
struct PoolStats {
  std::uint64_t requests = 0;
  std::uint64_t reused = 0;  // requests sent on a connection that was open before them
  std::uint64_t connects = 0;
  std::uint64_t resumed = 0;  // connects whose TLS handshake resumed an earlier session
  std::uint64_t connect_failures = 0;
  std::uint64_t ping_failures = 0;
  std::uint64_t ejections = 0;
  std::uint64_t requests_failed = 0;  // answered with an error by the gateway itself
  Histogram handshake{{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}};
  Histogram rtt{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5}};
};

// A pool as the exposition shows it.
struct PoolView {
  std::string upstream;
  std::uint64_t open = 0;
  std::uint64_t connecting = 0;
  std::uint64_t draining = 0;
  std::uint64_t busy = 0;  // open connections with requests in flight
  std::uint64_t waiting = 0;
  bool up = true;
  const PoolStats* stats = nullptr;
};

// What the gateway as a whole has done.
struct GatewayStats {
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t dropped_not_accepted = 0;  // publications of types not accepted from peers
  std::uint64_t dropped_no_upstream = 0;   // publications with no connection to take them
  std::uint64_t dropped_bus = 0;           // publications the local bus did not take
  std::uint64_t late_replies = 0;          // replies after their request timed out
  std::uint64_t protocol_errors = 0;       // connections closed for breaking ferry.v1
  std::uint64_t cut_off = 0;               // peers closed for not reading (queue_bytes)
  std::uint64_t inbound = 0;               // connections from peers, now
};

std::string exposition(const GatewayStats& gateway, const std::vector<PoolView>& pools);

// Serves GET /metrics on `listen` ("ADDRESS:PORT") with what `render` returns; anything else
// is 404. Plain HTTP: keep it on loopback or a private network.
class MetricsServer {
 public:
  MetricsServer(boost::asio::io_context& ioc, std::function<std::string()> render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // Listens; returns the address it listens on (a port of 0 picks a free one).
  Result<std::string> listen(const std::string& address);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::gateway
