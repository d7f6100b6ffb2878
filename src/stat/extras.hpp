// SPDX-License-Identifier: Apache-2.0
// extras.hpp: the stat segment's extras (stat_layout.hpp, StatExtras): the handler-latency
// histogram and the values a server publishes (Server::publish_metric), written by the
// server and read by observers (ferry::read_process_stat), who take nothing in them on
// trust. docs/connection_format.md#extras.
// Thread-safety: init_extras(), record_latency() and publish_value() from the server's
// loop thread only (the segment's single writer); the readers from any thread of any
// process.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/result.hpp"
#include "ferry/server.hpp"
#include "ferry/stat.hpp"
#include "stat/stat_layout.hpp"

namespace ferry::detail {

static_assert(kLatencySlots == kLatencyBuckets + 1);
static_assert(kPublishedSlots == kPublishedMetrics);

// A new segment's extras: the version, the sizes, whether the server times handlers.
void init_extras(StatExtras& extras, bool handler_histogram) noexcept;

// One timed handler call of `ns` nanoseconds.
void record_latency(StatExtras& extras, std::int64_t ns) noexcept;
// The histogram (cumulative, as LatencyHistogram has it); zero for extras of another version.
LatencyHistogram read_latency(const StatExtras& extras) noexcept;
// Whether the server said it times handlers (false for extras of another version).
bool times_handlers(const StatExtras& extras) noexcept;

// A series name split: "name{a=\"x\",b=\"y\"}" -> name, {{a, x}, {b, y}}.
struct MetricSeries {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
};
// Parses a series as Server::publish_metric takes it; invalid_argument naming the rule it
// breaks otherwise.
Result<MetricSeries> parse_series(std::string_view series);

// The value published as `series` (its slot; the same series again, its labels in any
// order, the same one): the series checked by parse_series(), then written once before
// `published` counts it. no_memory when every slot is taken.
Result<ShmAtomic<std::uint64_t>*> publish_value(StatExtras& extras, std::string_view series);
// What was published, in order: each name copied once and parsed, those that do not parse
// and repeats of an earlier series (its labels in any order) left out; nothing for extras
// of another version.
std::vector<PublishedMetric> read_published(const StatExtras& extras);

}  // namespace ferry::detail
