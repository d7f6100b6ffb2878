// SPDX-License-Identifier: Apache-2.0
// ferryd/published.hpp: what ferryd publishes in its endpoint's stat segment beside the
// endpoint's own counters (ferry::Server::publish_metric): the bus's counters and ferryd's
// own, by series name, with the help texts `ferry exporter` gives them
// (docs/observability.md#prometheus-metrics). Header-only: ferryd writes them, the ferry
// command's exporter reads the help texts.
// Thread-safety: constants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ferry::ferryd {

struct PublishedName {
  std::string_view series;  // as Server::publish_metric takes it
  std::string_view help;
};

// The bus's counters (BusStats), in the order of kBusSeries.
enum class BusCounter : std::uint8_t {
  published,
  deliveries,
  dropped,
  slow_dropped_for,
  slow_disconnected,
  requests,
  replies,
  no_service,
  refused,
  expired,
  failed_requests,
  orphan_replies,
  errors_held,
  routes,
  count,
};
inline constexpr std::size_t kBusCounters = static_cast<std::size_t>(BusCounter::count);

namespace published_help {
inline constexpr std::string_view kSlow =
    "Subscribers whose full ring held a publication back for slow_subscriber_timeout_ms, by what "
    "ferryd did";
inline constexpr std::string_view kFailed =
    "Requests ferryd answered with an error reply, by reason";
}  // namespace published_help

inline constexpr PublishedName kBusSeries[kBusCounters] = {
    {"ferry_bus_published_total", "Messages published on the bus"},
    {"ferry_bus_deliveries_total", "Copies of publications handed to subscribers"},
    {"ferry_bus_deliveries_dropped_total",
     "Copies of publications, and replies, dropped for subscribers and requesters whose rings "
     "stayed full"},
    {"ferry_bus_slow_subscribers_total{action=\"drop\"}", published_help::kSlow},
    {"ferry_bus_slow_subscribers_total{action=\"disconnect\"}", published_help::kSlow},
    {"ferry_bus_requests_total", "Requests forwarded to a serving client"},
    {"ferry_bus_replies_total", "Replies routed back to their requesters"},
    {"ferry_bus_requests_failed_total{reason=\"no_service\"}", published_help::kFailed},
    {"ferry_bus_requests_failed_total{reason=\"refused\"}", published_help::kFailed},
    {"ferry_bus_requests_failed_total{reason=\"expired\"}", published_help::kFailed},
    {"ferry_bus_requests_failed_total{reason=\"server_gone\"}", published_help::kFailed},
    {"ferry_bus_orphan_replies_total",
     "Replies dropped: their requester had gone or the request had expired"},
    {"ferry_bus_error_replies_held_total",
     "Error replies kept for a requester whose ring was full, sent once it had room"},
    {"ferry_bus_requests_outstanding", "Requests forwarded and not answered yet"},
};

// ferryd's own: what its clean-ups removed (at start-up; the count at shutdown comes after
// the endpoint is gone).
inline constexpr PublishedName kStaleRemoved = {
    "ferry_stale_objects_removed_total",
    "Sockets, locks and segments of dead owners ferryd removed"};

// The help text of a metric ferryd publishes (`name`: the series up to its labels), or
// empty for one it does not.
constexpr std::string_view published_help_text(std::string_view name) {
  const auto family = [](std::string_view series) { return series.substr(0, series.find('{')); };
  for (const PublishedName& p : kBusSeries) {
    if (family(p.series) == name) return p.help;
  }
  return family(kStaleRemoved.series) == name ? kStaleRemoved.help : std::string_view();
}

}  // namespace ferry::ferryd
