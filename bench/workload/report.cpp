// SPDX-License-Identifier: Apache-2.0
// bench/workload/report.cpp: participant result lines and the printed summary (report.hpp).
#include "workload/report.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "common/number.hpp"

namespace ferry::bench {

namespace {

// `value` with `decimals` digits after the point.
std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace

std::string Report::encode() const {
  return "result msgs=" + std::to_string(msgs) + " seconds=" + fixed(seconds, 9) +
         " lost=" + std::to_string(errors.lost) +
         " duplicated=" + std::to_string(errors.duplicated) +
         " reordered=" + std::to_string(errors.reordered) +
         " corrupt=" + std::to_string(errors.corrupt) + " failed=" + std::to_string(errors.failed) +
         " latency=" + latency.encode() + (wakes ? " wakes=" + std::to_string(*wakes) : "");
}

std::optional<Report> Report::decode(std::string_view line) {
  if (line.substr(0, 7) != "result ") return std::nullopt;
  line.remove_prefix(7);
  Report r;
  int fields = 0;
  while (!line.empty()) {
    const std::size_t space = line.find(' ');
    const std::string_view item = line.substr(0, space);
    line = space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    const auto read = [value](auto& field) {
      const auto n = tools::parse_number<std::remove_reference_t<decltype(field)>>(value);
      if (n) field = *n;
      return n.has_value();
    };
    bool ok = false;
    if (key == "msgs") {
      ok = read(r.msgs);
    } else if (key == "seconds") {
      ok = read(r.seconds);
    } else if (key == "lost") {
      ok = read(r.errors.lost);
    } else if (key == "duplicated") {
      ok = read(r.errors.duplicated);
    } else if (key == "reordered") {
      ok = read(r.errors.reordered);
    } else if (key == "corrupt") {
      ok = read(r.errors.corrupt);
    } else if (key == "failed") {
      ok = read(r.errors.failed);
    } else if (key == "latency") {
      auto h = Histogram::decode(value);
      ok = h.has_value();
      if (ok) r.latency = *h;
    } else if (key == "wakes") {
      std::uint64_t n = 0;
      ok = !r.wakes && read(n);
      if (ok) r.wakes = n;
    }
    if (!ok) return std::nullopt;
    ++fields;
  }
  if (fields != (r.wakes ? 9 : 8)) return std::nullopt;
  return r;
}

double Summary::msgs_per_s() const noexcept {
  return seconds > 0 ? static_cast<double>(msgs) / seconds : 0;
}

double Summary::cpu_us_per_msg() const noexcept {
  return msgs > 0 ? cpu_s * 1e6 / static_cast<double>(msgs) : 0;
}

std::optional<double> Summary::wakes_per_msg() const noexcept {
  if (!wakes || msgs == 0) return std::nullopt;
  return static_cast<double>(*wakes) / static_cast<double>(msgs);
}

double Summary::mb_per_s() const noexcept {
  return msgs_per_s() * static_cast<double>(options.size) / 1e6;
}

std::string summary_json(const Summary& s) {
  const Options& o = s.options;
  // Figures keep the digits they are measured to: ns-resolution seconds to the ms, rates
  // to the whole message, latencies to the ns.
  // (Dividing by a power of ten gives the double nearest the short decimal, which is how
  // the JSON prints it.)
  const auto round_to = [](double value, double per_unit) {
    return std::round(value * per_unit) / per_unit;
  };
  const auto latency = [&](double q) -> nlohmann::ordered_json {
    if (!s.has_latency || s.latency.count() == 0) return nullptr;
    return round_to(q >= 1 ? s.latency.max_us() : s.latency.quantile_us(q), 1e3);
  };
  nlohmann::ordered_json j;
  j["system"] = to_string(o.transport);
  j["scenario"] = to_string(o.scenario);
  j["size"] = o.size;
  j["clients"] = o.clients;
  j["wait"] = o.wait_name();
  j["metrics"] = o.metrics;
  j["copy"] = o.copy;
  j["batch"] = o.batch;
  j["msgs"] = s.msgs;
  j["seconds"] = round_to(s.seconds, 1e3);
  j["msgs_per_s"] = std::llround(s.msgs_per_s());
  j["mb_per_s"] = round_to(s.mb_per_s(), 10);
  j["p50_us"] = latency(0.5);
  j["p99_us"] = latency(0.99);
  j["p999_us"] = latency(0.999);
  j["max_us"] = latency(1);
  j["cpu_s"] = round_to(s.cpu_s, 100);
  j["cpu_us_per_msg"] = round_to(s.cpu_us_per_msg(), 1000);
  if (const auto w = s.wakes_per_msg()) {
    j["wakes_per_msg"] = round_to(*w, 1e4);
  } else {
    j["wakes_per_msg"] = nullptr;
  }
  j["peak_rss_kb"] = s.peak_rss_kb;
  j["errors"] = s.errors;
  return j.dump();
}

std::string summary_text(const Summary& s) {
  const Options& o = s.options;
  char buf[512];
  std::string out;
  std::string idle = o.idle > 0 ? ", " + std::to_string(o.idle) + " idle connections" : "";
  if (o.metrics) idle += ", metrics on";
  const bool fanout = o.scenario == Scenario::fanout;
  if (fanout && o.paced) idle += ", " + fixed(o.rate, 0) + " msgs/s published";
  std::snprintf(buf, sizeof buf, "%s over %s: %u %s%s, %zu-byte messages, wait %s%s\n",
                std::string(to_string(o.scenario)).c_str(),
                std::string(to_string(o.transport)).c_str(), o.clients,
                fanout ? "subscriber" : "client", o.clients == 1 ? "" : "s", o.size,
                std::string(o.wait_name()).c_str(), idle.c_str());
  out += buf;
  const char* what = o.request_reply() ? "round trips" : fanout ? "deliveries" : "messages";
  std::snprintf(buf, sizeof buf, "  %" PRIu64 " %s in %.2f s: %.0f msgs/s, %.1f MB/s\n", s.msgs,
                what, s.seconds, s.msgs_per_s(), s.mb_per_s());
  out += buf;
  if (s.has_latency && s.latency.count() > 0) {
    std::snprintf(buf, sizeof buf,
                  "  %s latency (us): p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (%" PRIu64
                  " samples)\n",
                  o.request_reply() ? "round-trip" : "one-way", s.latency.quantile_us(0.5),
                  s.latency.quantile_us(0.99), s.latency.quantile_us(0.999), s.latency.max_us(),
                  s.latency.count());
    out += buf;
  }
  std::snprintf(
      buf, sizeof buf,
      "  cpu %.2f s (all participants, %.3f us a %s), peak RSS %ld kB, errors %" PRIu64 "%s\n",
      s.cpu_s, s.cpu_us_per_msg(), o.request_reply() ? "round trip" : "message", s.peak_rss_kb,
      s.errors, s.errors > 0 ? " (lost, duplicated, reordered or corrupt messages)" : "");
  out += buf;
  if (const auto w = s.wakes_per_msg()) {
    std::snprintf(buf, sizeof buf,
                  "  wake-up syscalls %" PRIu64 " (%.4f a %s), from the ring counters\n", *s.wakes,
                  *w,
                  o.request_reply() ? "round trip"
                  : fanout          ? "delivery"
                                    : "message");
    out += buf;
  }
  return out;
}

}  // namespace ferry::bench
