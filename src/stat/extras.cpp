// SPDX-License-Identifier: Apache-2.0
// The stat segment's extras (extras.hpp).
#include "stat/extras.hpp"

#include <algorithm>
#include <cstring>

#include "common/quoted.hpp"

namespace ferry::detail {
namespace {

constexpr std::string_view kRule =
    " (a series is NAME or NAME{LABEL=\"VALUE\",...}, at most 95 bytes: NAME of "
    "[a-zA-Z_:][a-zA-Z0-9_:]*, LABEL of [a-zA-Z_][a-zA-Z0-9_]*, VALUE of printable ASCII "
    "without \" or \\)";

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The text of a name field: up to its first NUL, none if it has no NUL (not a name).
std::string_view field_text(const char (&field)[kPublishedNameBytes]) {
  const char* end = static_cast<const char*>(std::memchr(field, '\0', kPublishedNameBytes));
  if (end == nullptr) return {};
  return {field, static_cast<std::size_t>(end - field)};
}

// What makes two series the same: the name and the labels in any order (Prometheus takes
// a{x="1",y="2"} and a{y="2",x="1"} for one series, which must not be exported twice).
std::string series_key(const MetricSeries& s) {
  auto labels = s.labels;
  std::sort(labels.begin(), labels.end());
  std::string key = s.name;
  for (const auto& [name, value] : labels)
    key.append(1, '\0').append(name).append(1, '\0').append(value);
  return key;
}

bool extras_known(const StatExtras& x) noexcept {
  return x.version == kStatExtrasVersion && x.published_slots == kPublishedSlots &&
         x.published_name_bytes == kPublishedNameBytes;
}

}  // namespace

void init_extras(StatExtras& extras, bool handler_histogram) noexcept {
  extras.version = kStatExtrasVersion;
  extras.flags = handler_histogram ? kExtrasHandlerHistogram : 0;
  extras.published_slots = static_cast<std::uint16_t>(kPublishedSlots);
  extras.published_name_bytes = static_cast<std::uint16_t>(kPublishedNameBytes);
}

void record_latency(StatExtras& extras, std::int64_t ns) noexcept {
  const double seconds = static_cast<double>(ns) / 1e9;
  std::size_t b = 0;
  while (b < kLatencyBuckets && seconds > kLatencyBounds[b]) ++b;
  extras.latency[b].add_relaxed(1);
  extras.latency_sum_ns.add_relaxed(static_cast<std::uint64_t>(ns));
}

LatencyHistogram read_latency(const StatExtras& extras) noexcept {
  LatencyHistogram h;
  if (!extras_known(extras)) return h;
  constexpr auto r = std::memory_order_relaxed;
  std::uint64_t running = 0;
  for (std::size_t b = 0; b < kLatencyBuckets; ++b) {
    running += extras.latency[b].load(r);
    h.cumulative[b] = running;
  }
  h.count = running + extras.latency[kLatencyBuckets].load(r);
  h.sum_seconds = static_cast<double>(extras.latency_sum_ns.load(r)) / 1e9;
  return h;
}

bool times_handlers(const StatExtras& extras) noexcept {
  return extras_known(extras) && (extras.flags & kExtrasHandlerHistogram) != 0;
}

Result<MetricSeries> parse_series(std::string_view series) {
  const auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument,
                 "metric series " + quoted(series) + ": " + why + std::string(kRule));
  };
  if (series.empty() || series.size() >= kPublishedNameBytes) {
    return bad("it is " + std::to_string(series.size()) + " bytes long");
  }
  MetricSeries out;
  std::size_t i = 0;
  while (i < series.size() &&
         (is_letter(series[i]) || series[i] == ':' || (i > 0 && is_digit(series[i])))) {
    ++i;
  }
  if (i == 0) return bad("the name must start with a letter, _ or :");
  out.name = series.substr(0, i);
  if (i == series.size()) return out;
  if (series[i] != '{') return bad("unexpected " + quoted(series.substr(i, 1)) + " in the name");
  ++i;
  for (;;) {
    const std::size_t start = i;
    while (i < series.size() && (is_letter(series[i]) || (i > start && is_digit(series[i])))) ++i;
    const std::string_view label = series.substr(start, i - start);
    if (label.empty()) return bad("a label name must start with a letter or _");
    if (label.starts_with("__") || label == "session" || label == "endpoint") {
      return bad("the label name " + quoted(label) + " is reserved");
    }
    for (const auto& [name, value] : out.labels) {
      if (name == label) return bad("the label " + quoted(label) + " appears twice");
    }
    if (i + 1 >= series.size() || series[i] != '=' || series[i + 1] != '"') {
      return bad("expected =\" after the label " + quoted(label));
    }
    i += 2;
    const std::size_t value_start = i;
    while (i < series.size() && series[i] != '"') {
      const char c = series[i];
      if (c < 0x20 || c > 0x7e || c == '\\') {
        return bad("the value of " + quoted(label) + " holds a byte it may not");
      }
      ++i;
    }
    if (i == series.size()) return bad("the value of " + quoted(label) + " has no closing \"");
    if (i == value_start) return bad("the value of " + quoted(label) + " is empty");
    out.labels.emplace_back(label, series.substr(value_start, i - value_start));
    ++i;  // the closing quote
    if (i < series.size() && series[i] == ',') {
      ++i;
      continue;
    }
    if (i + 1 == series.size() && series[i] == '}') return out;
    return bad("expected , or a final } after the value of " + quoted(label));
  }
}

Result<ShmAtomic<std::uint64_t>*> publish_value(StatExtras& extras, std::string_view series) {
  auto parsed = parse_series(series);
  if (!parsed) return parsed.error();
  const std::string key = series_key(*parsed);
  // The server is the only writer: its own last store, and names it checked.
  const std::uint32_t n = extras.published.load(std::memory_order_relaxed);
  for (std::uint32_t i = 0; i < n && i < kPublishedSlots; ++i) {
    auto earlier = parse_series(field_text(extras.names[i]));
    if (earlier && series_key(*earlier) == key) return &extras.values[i];
  }
  if (n >= kPublishedSlots) {
    return Error(Errc::no_memory, "cannot publish " + quoted(series) + ": all " +
                                      std::to_string(kPublishedSlots) +
                                      " values a server can publish are taken");
  }
  std::memset(extras.names[n], 0, kPublishedNameBytes);
  std::memcpy(extras.names[n], series.data(), series.size());
  // Release: an observer that sees the count sees the name.
  extras.published.store(n + 1, std::memory_order_release);
  return &extras.values[n];
}

std::vector<PublishedMetric> read_published(const StatExtras& extras) {
  std::vector<PublishedMetric> out;
  std::vector<std::string> keys;  // of the series in `out`
  if (!extras_known(extras)) return out;
  const std::uint32_t n = std::min<std::uint32_t>(extras.published.load(std::memory_order_acquire),
                                                  static_cast<std::uint32_t>(kPublishedSlots));
  for (std::uint32_t i = 0; i < n; ++i) {
    char name[kPublishedNameBytes];
    std::memcpy(name, extras.names[i], sizeof name);  // once: then checked and used
    const std::string_view series = field_text(name);
    auto parsed = parse_series(series);
    if (!parsed) continue;
    std::string key = series_key(*parsed);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    keys.push_back(std::move(key));
    PublishedMetric m;
    m.series = series;
    m.name = std::move(parsed->name);
    m.labels = std::move(parsed->labels);
    m.value = extras.values[i].load(std::memory_order_relaxed);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace ferry::detail
