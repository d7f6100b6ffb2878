// SPDX-License-Identifier: Apache-2.0
// tools/demo/report.cpp: ferry-demo's table (report.hpp).
#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "workload/histogram.hpp"
#include "workload/report.hpp"

namespace ferry::demo {

namespace {

// Microseconds: one decimal below 1000, whole (and grouped) above.
std::string micros(double us) {
  if (us >= 1000) return grouped(static_cast<std::uint64_t>(std::llround(us)));
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", us);
  return text;
}

// The first few of `notes` (when everyone lost the connection, one line says it all).
void print_notes(std::FILE* to, const char* prefix, const std::vector<std::string>& notes) {
  constexpr std::size_t kShown = 4;
  for (std::size_t i = 0; i < notes.size() && i < kShown; ++i) {
    std::fprintf(to, "%s%s\n", prefix, notes[i].c_str());
  }
  if (notes.size() > kShown)
    std::fprintf(to, "%s... and %zu more\n", prefix, notes.size() - kShown);
}

// What one part of the cast measured, all its members' results together.
struct Totals {
  std::uint64_t msgs = 0;
  double seconds = 0;  // the longest of them
  bench::ErrorCounts errors;
  bench::Histogram latency;
};

Totals totals(const bench::Participants& ps, const std::vector<std::size_t>& members) {
  Totals t;
  for (std::size_t i : members) {
    const std::optional<bench::Report>& r = ps[i].report;
    if (!r) continue;  // it failed: its problem is listed
    t.msgs += r->msgs;
    t.seconds = std::max(t.seconds, r->seconds);
    t.errors.add(r->errors);
    t.latency.merge(r->latency);
  }
  return t;
}

}  // namespace

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "1 server", "4 servers".
std::string counted(std::uint64_t n, const char* what) {
  return grouped(n) + " " + what + (n == 1 ? "" : "s");
}

int print_report(const Plan& plan, const bench::Participants& ps, const Cast& cast,
                 const std::vector<std::string>& problems, bool ran) {
  if (!ran) {
    print_notes(stderr, "ferry-demo: ", problems);
    std::fprintf(stderr, "ferry-demo: FAILED: the participants could not all start\n");
    return 1;
  }
  const Totals pub = totals(ps, cast.subscribers);
  Totals rr = totals(ps, cast.requesters);
  rr.errors.add(totals(ps, cast.servers).errors);  // requests that arrived corrupt
  const std::uint64_t published = totals(ps, cast.publishers).msgs;
  const std::uint64_t delivered = pub.msgs;
  const std::uint64_t answered = rr.msgs;
  // Rates over the time the messages took: from the start to the last one received
  // (after the end when subscribers lagged), never less than --seconds.
  const auto rate = [&](const Totals& t) {
    const double seconds = std::max(plan.seconds, t.seconds);
    return grouped(static_cast<std::uint64_t>(static_cast<double>(t.msgs) / seconds));
  };
  // "µs" is two bytes and one column: its fields are one byte wider.
  std::printf("\n%-20s %12s %11s %10s %10s %8s\n", "", "messages", "msgs/s", "p50 µs", "p99 µs",
              "errors");
  std::printf("%-20s %12s %11s %9s %9s %8s\n", "publish/subscribe", grouped(delivered).c_str(),
              rate(pub).c_str(), micros(pub.latency.quantile_us(0.5)).c_str(),
              micros(pub.latency.quantile_us(0.99)).c_str(), grouped(pub.errors.total()).c_str());
  std::printf("%-20s %12s %11s %9s %9s %8s\n", "request/response", grouped(answered).c_str(),
              rate(rr).c_str(), micros(rr.latency.quantile_us(0.5)).c_str(),
              micros(rr.latency.quantile_us(0.99)).c_str(), grouped(rr.errors.total()).c_str());
  std::printf("\n  publish/subscribe: %s published by %s, each delivered to all %s;\n",
              counted(published, "message").c_str(), counted(plan.publishers, "publisher").c_str(),
              counted(plan.subscribers, "subscriber").c_str());
  std::printf("    latency: one way, from the publisher's send to the subscriber's handler.\n");
  std::printf("  request/response: %s, one request at a time, answered by %s;\n",
              counted(plan.requesters, "requester").c_str(),
              counted(plan.servers, "server").c_str());
  std::printf("    latency: the round trip, from the request's send to its reply in hand.\n");
  bench::ErrorCounts all = pub.errors;
  all.add(rr.errors);
  std::printf("  errors: %s lost, %s duplicated, %s reordered, %s corrupt, %s failed requests\n",
              grouped(all.lost).c_str(), grouped(all.duplicated).c_str(),
              grouped(all.reordered).c_str(), grouped(all.corrupt).c_str(),
              grouped(all.failed).c_str());
  print_notes(stdout, "  problem: ", problems);
  const bool ok = all.total() == 0 && problems.empty() && (delivered > 0 || published == 0);
  if (ok) {
    std::printf(
        "\nferry-demo: OK: every message arrived once, in order and intact; every "
        "request was answered correctly\n");
  } else {
    std::printf(
        "\nferry-demo: FAILED: %s errors%s%s\n", grouped(all.total()).c_str(),
        problems.empty() ? "" : ", problems above",
        plan.inject_error ? " (--inject-error: publisher 0 skipped a message, as asked)" : "");
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace ferry::demo
