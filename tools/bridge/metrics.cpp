// SPDX-License-Identifier: Apache-2.0
// tools/bridge/metrics.cpp: ferry-bridge's Prometheus metrics (metrics.hpp).
#include "bridge/metrics.hpp"

#include <exception>

#include "common/listen_error.hpp"

namespace ferry::bridge {

namespace {

constexpr const char* kKinds[] = {"out", "in", "both", "request", "serve"};

}  // namespace

std::string route_label(const Route& r) {
  return std::string(kKinds[static_cast<int>(r.kind)]) + " " + std::to_string(r.type);
}

Metrics::Metrics(const std::vector<Route>& routes) {
  using prometheus::BuildCounter;
  using prometheus::BuildGauge;
  using prometheus::BuildHistogram;
  auto& messages = BuildCounter()
                       .Name("ferry_bridge_messages_total")
                       .Help("messages carried, by route and direction (out: to NATS)")
                       .Register(*registry_);
  auto& bytes = BuildCounter()
                    .Name("ferry_bridge_bytes_total")
                    .Help("payload bytes carried, by route and direction")
                    .Register(*registry_);
  auto& gaps = BuildCounter()
                   .Name("ferry_bridge_gaps_total")
                   .Help("messages an origin's sequence skipped (lost on the way)")
                   .Register(*registry_);
  auto& duplicates = BuildCounter()
                         .Name("ferry_bridge_duplicates_total")
                         .Help("messages dropped as already delivered")
                         .Register(*registry_);
  auto& redeliveries = BuildCounter()
                           .Name("ferry_bridge_redeliveries_total")
                           .Help("messages JetStream delivered again")
                           .Register(*registry_);
  auto& dropped = BuildCounter()
                      .Name("ferry_bridge_dropped_total")
                      .Help(
                          "messages dropped, by reason (buffer: NATS away and the reconnect "
                          "buffer full; bus: the local bus did not take it in time)")
                      .Register(*registry_);
  auto& slow = BuildCounter()
                   .Name("ferry_bridge_slow_consumer_total")
                   .Help("times the NATS client dropped messages of a route's subscription")
                   .Register(*registry_);
  auto& requests = BuildCounter()
                       .Name("ferry_bridge_requests_total")
                       .Help("requests through NATS, by result")
                       .Register(*registry_);
  auto& rtt = BuildHistogram()
                  .Name("ferry_bridge_request_seconds")
                  .Help("round trip of requests through NATS")
                  .Register(*registry_);
  auto& responders = BuildGauge()
                         .Name("ferry_bridge_remote_responders")
                         .Help("1 while a remote bridge advertises a responder for the route")
                         .Register(*registry_);
  const prometheus::Histogram::BucketBoundaries bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                       0.005,  0.01,    0.025,  0.1,   1};
  for (const Route& r : routes) {
    const std::string label = route_label(r);
    routes_.push_back(RouteMetrics{
        &messages.Add({{"route", label}, {"direction", "out"}}),
        &bytes.Add({{"route", label}, {"direction", "out"}}),
        &messages.Add({{"route", label}, {"direction", "in"}}),
        &bytes.Add({{"route", label}, {"direction", "in"}}),
        &gaps.Add({{"route", label}}),
        &duplicates.Add({{"route", label}}),
        &redeliveries.Add({{"route", label}}),
        &dropped.Add({{"route", label}, {"reason", "buffer"}}),
        &dropped.Add({{"route", label}, {"reason", "bus"}}),
        &slow.Add({{"route", label}}),
        &requests.Add({{"route", label}, {"result", "ok"}}),
        &requests.Add({{"route", label}, {"result", "error"}}),
        &requests.Add({{"route", label}, {"result", "timeout"}}),
        &rtt.Add({{"route", label}}, bounds),
        &responders.Add({{"route", label}}),
    });
  }
  connected_ = &BuildGauge()
                    .Name("ferry_bridge_nats_connected")
                    .Help("1 while connected to a NATS server")
                    .Register(*registry_)
                    .Add({});
  reconnects_ = &BuildCounter()
                     .Name("ferry_bridge_nats_reconnects_total")
                     .Help("times the connection to NATS came back")
                     .Register(*registry_)
                     .Add({});
  disconnects_ = &BuildCounter()
                      .Name("ferry_bridge_nats_disconnects_total")
                      .Help("times the connection to NATS was lost")
                      .Register(*registry_)
                      .Add({});
  auto& buffer = BuildGauge()
                     .Name("ferry_bridge_buffer")
                     .Help("what waits in the reconnect buffer for NATS to come back")
                     .Register(*registry_);
  buffer_bytes_ = &buffer.Add({{"unit", "bytes"}});
  buffer_messages_ = &buffer.Add({{"unit", "messages"}});
}

Result<std::string> Metrics::listen(const std::string& listen) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return Error(Errc::system, "metrics: " + tools::listen_error(listen, e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  const auto ports = exposer_->GetListeningPorts();
  const std::string host = listen.substr(0, listen.rfind(':'));
  return host + ":" + (ports.empty() ? std::string("?") : std::to_string(ports.front()));
}

}  // namespace ferry::bridge
