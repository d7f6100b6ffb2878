// SPDX-License-Identifier: Apache-2.0
// ferry stat: every endpoint and connection of the session, live like top, or one JSON
// snapshot (ferry::read_session_stat(): read from shared memory, the servers are not asked).
#include <poll.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "cli.hpp"
#include "ferry/stat.hpp"

namespace ferry::cli {

namespace {

constexpr Flag kJsonFlag{"--json", "", "print one snapshot as JSON and exit"};
constexpr Flag kIntervalFlag{"--interval", "MS", "refresh every MS milliseconds (default 1000)"};
constexpr Flag kCountFlag{"--count", "N", "stop after N refreshes (default: until Ctrl-C)"};
constexpr Flag kOnlyFlag{"--endpoint", "NAME", "only this endpoint (default: all of them)"};
constexpr std::array kStatFlags = {kOnlyFlag,     kSessionFlag, kJsonFlag,
                                   kIntervalFlag, kCountFlag,   kHelpFlag};

nlohmann::json ring_json(const RingStats& r) {
  return {{"capacity_bytes", r.capacity},
          {"used_bytes", r.used_bytes},
          {"high_water_bytes", r.high_water_bytes},
          {"messages", r.records_sent},
          {"bytes", r.bytes_sent},
          {"messages_consumed", r.records_received},
          {"full_waits", r.full_waits},
          {"full_wait_seconds", static_cast<double>(r.full_wait_ns) / 1e9},
          {"producer_wakes", r.producer_wakes},
          {"consumer_wakes", r.consumer_wakes},
          {"empty_waits", r.empty_waits},
          {"frame_errors", r.errors}};
}

nlohmann::json totals_json(const DirectionTotals& t) {
  return {{"capacity_bytes", t.capacity_bytes},
          {"used_bytes", t.used_bytes},
          {"high_water_bytes", t.high_water_bytes},
          {"full_waits", t.full_waits},
          {"full_wait_seconds", static_cast<double>(t.full_wait_ns) / 1e9},
          {"producer_wakes", t.producer_wakes},
          {"consumer_wakes", t.consumer_wakes},
          {"frame_errors", t.errors}};
}

nlohmann::json endpoint_json(const EndpointStat& e) {
  const ServerStats& s = e.server;
  nlohmann::json published = nlohmann::json::object();
  for (const PublishedMetric& m : e.metrics) published[m.series] = m.value;
  nlohmann::json conns = nlohmann::json::array();
  for (const ConnectionStat& c : e.connections) {
    conns.push_back({{"id", c.id},
                     {"pid", c.pid},
                     {"uid", c.uid},
                     {"gid", c.gid},
                     {"name", c.name},
                     {"reconnects", c.reconnects},
                     {"connected_unix_ns", c.connected_unix_ns},
                     {"in", ring_json(c.in)},
                     {"out", ring_json(c.out)}});
  }
  return {{"endpoint", e.endpoint},
          {"pid", e.pid},
          {"started_unix_ns", e.started_unix_ns},
          {"max_connections", e.max_connections},
          {"connections_active", s.active},
          {"connections_accepted", s.accepted},
          {"connections_lost", s.lost},
          {"reconnects", s.reconnects},
          {"rejected",
           {{"version", s.rejected_version},
            {"credentials", s.rejected_credentials},
            {"full", s.rejected_full},
            {"malformed", s.rejected_malformed},
            {"abandoned", s.rejected_abandoned},
            {"failed", s.rejected_failed}}},
          {"protocol_errors", s.protocol_errors},
          {"messages_in", s.messages_in},
          {"messages_out", s.messages_out},
          {"bytes_in", s.bytes_in},
          {"bytes_out", s.bytes_out},
          {"unhandled", s.unhandled},
          {"handler_errors", s.handler_errors},
          {"in", totals_json(e.in)},
          {"out", totals_json(e.out)},
          {"metrics", published},
          {"connections", conns}};
}

// 1234 -> "1234", 12345 -> "12.3k", 1.5e6 -> "1.50M".
std::string human(double v) {
  char text[32];
  if (v >= 1e9) {
    std::snprintf(text, sizeof text, "%.2fG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(text, sizeof text, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(text, sizeof text, "%.1fk", v / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.0f", v);
  }
  return text;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  char text[16];
  std::snprintf(text, sizeof text, "%.0f%%",
                whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text;
}

std::string duration(std::int64_t ns) {
  const std::int64_t s = ns / 1'000'000'000;
  char text[32];
  if (s >= 86400) {
    std::snprintf(text, sizeof text, "%" PRId64 "d%02" PRId64 "h", s / 86400, s % 86400 / 3600);
  } else if (s >= 3600) {
    std::snprintf(text, sizeof text, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
  } else {
    std::snprintf(text, sizeof text, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  }
  return text;
}

std::int64_t now_unix_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// What the previous frame saw, for rates.
struct Previous {
  std::int64_t at_ns = 0;
  std::map<std::pair<std::string, std::uint64_t>, ConnectionStat> conns;
  std::map<std::string, EndpointStat> endpoints;
};

std::string frame(const SessionStat& s, const Previous& prev, std::int64_t now_ns) {
  const double dt = prev.at_ns == 0 ? 0.0 : static_cast<double>(now_ns - prev.at_ns) / 1e9;
  auto rate = [&](std::uint64_t now, std::uint64_t before) {
    return dt <= 0.0 || now < before ? 0.0 : static_cast<double>(now - before) / dt;
  };
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "ferry stat  session %s  %zu endpoint%s  (%s)\n",
                s.session.c_str(), s.endpoints.size(), s.endpoints.size() == 1 ? "" : "s",
                s.directory.c_str());
  out += line;
  for (const std::string& p : s.problems) out += "  cannot read " + p + "\n";
  for (const EndpointStat& e : s.endpoints) {
    const ServerStats& v = e.server;
    auto pe = prev.endpoints.find(e.endpoint);
    const EndpointStat* before = pe == prev.endpoints.end() ? nullptr : &pe->second;
    std::snprintf(line, sizeof line,
                  "\nendpoint %s  pid %ld  up %s  connections %" PRIu64 "/%u  accepted %" PRIu64
                  "  rejected %" PRIu64 "  lost %" PRIu64 "  reconnects %" PRIu64
                  "  protocol errors %" PRIu64 "\n",
                  e.endpoint.c_str(), e.pid, duration(now_ns - e.started_unix_ns).c_str(), v.active,
                  e.max_connections, v.accepted, v.rejected, v.lost, v.reconnects,
                  v.protocol_errors);
    out += line;
    if (before != nullptr) {
      std::snprintf(line, sizeof line,
                    "  in %s msg/s %sB/s   out %s msg/s %sB/s   full waits in %s/s out %s/s   "
                    "wake-ups %s/s\n",
                    human(rate(v.messages_in, before->server.messages_in)).c_str(),
                    human(rate(v.bytes_in, before->server.bytes_in)).c_str(),
                    human(rate(v.messages_out, before->server.messages_out)).c_str(),
                    human(rate(v.bytes_out, before->server.bytes_out)).c_str(),
                    human(rate(e.in.full_waits, before->in.full_waits)).c_str(),
                    human(rate(e.out.full_waits, before->out.full_waits)).c_str(),
                    human(rate(e.in.producer_wakes + e.in.consumer_wakes + e.out.producer_wakes +
                                   e.out.consumer_wakes,
                               before->in.producer_wakes + before->in.consumer_wakes +
                                   before->out.producer_wakes + before->out.consumer_wakes))
                        .c_str());
      out += line;
    }
    std::snprintf(line, sizeof line, "  %-6s %-8s %-20s %9s %9s %8s %8s %7s %7s %9s\n", "CONN",
                  "PID", "NAME", "IN/s", "OUT/s", "RING-IN", "RING-OUT", "BP-IN", "BP-OUT", "UP");
    out += line;
    for (const ConnectionStat& c : e.connections) {
      auto pc = prev.conns.find({e.endpoint, c.id});
      const ConnectionStat* b = pc == prev.conns.end() ? nullptr : &pc->second;
      // Backpressure: the share of the interval the producer spent waiting for room.
      auto blocked = [&](std::uint64_t now, std::uint64_t then) {
        return b == nullptr ? std::string("-")
                            : percent(now - then, static_cast<std::uint64_t>(dt * 1e9));
      };
      std::snprintf(
          line, sizeof line, "  %-6" PRIu64 " %-8u %-20.20s %9s %9s %8s %8s %7s %7s %9s\n", c.id,
          c.pid, c.name.c_str(),
          b == nullptr ? "-" : human(rate(c.in.records_sent, b->in.records_sent)).c_str(),
          b == nullptr ? "-" : human(rate(c.out.records_sent, b->out.records_sent)).c_str(),
          percent(c.in.used_bytes, c.in.capacity).c_str(),
          percent(c.out.used_bytes, c.out.capacity).c_str(),
          blocked(c.in.full_wait_ns, b == nullptr ? 0 : b->in.full_wait_ns).c_str(),
          blocked(c.out.full_wait_ns, b == nullptr ? 0 : b->out.full_wait_ns).c_str(),
          duration(now_ns - c.connected_unix_ns).c_str());
      out += line;
    }
  }
  return out;
}

void keep_only(SessionStat& s, const std::string& endpoint) {
  if (endpoint.empty()) return;
  std::erase_if(s.endpoints, [&](const EndpointStat& e) { return e.endpoint != endpoint; });
}

}  // namespace

int run_stat(const Common& global, std::span<const std::string> argv) {
  auto args = parse_args("stat", argv, kStatFlags);
  if (!args) return fail(kExitUsage, "stat: " + args.error().message());
  if (args->has("--help")) {
    (void)write_all(
        STDOUT_FILENO,
        usage_text("ferry stat [--endpoint NAME] [--session NAME] [--json] [--interval MS] "
                   "[--count N]",
                   "Shows every ferry server of the session and each of its connections, "
                   "refreshing in\nplace like top: messages/s each way, ring occupancy, the "
                   "share of time producers\nwaited for room (backpressure), peer pid and "
                   "name. Read from the servers' shared\nmemory (same user or root); the "
                   "servers are not asked and not slowed. RING: bytes\nin use of the ring's "
                   "capacity; BP: time the producer waited for room.",
                   kStatFlags, local_exit_codes_text()));
    return kExitOk;
  }
  Common where = global;
  where.endpoint.clear();  // all endpoints unless --endpoint names one
  if (const std::string* only = args->get("--endpoint")) where.endpoint = *only;
  if (const std::string* session = args->get("--session")) where.session = *session;
  std::uint64_t interval_ms = 1000;
  std::uint64_t count = 0;
  if (const std::string* v = args->get("--interval")) {
    auto n = parse_number("--interval", *v, 10, 3'600'000, "milliseconds");
    if (!n) return fail(kExitUsage, "stat: " + n.error().message());
    interval_ms = *n;
  }
  if (const std::string* v = args->get("--count")) {
    auto n = parse_number("--count", *v, 1, 1'000'000'000);
    if (!n) return fail(kExitUsage, "stat: " + n.error().message());
    count = *n;
  }

  if (args->has("--json")) {
    auto s = read_session_stat(where.session);
    if (!s) return fail(kExitError, "stat: " + s.error().message());
    keep_only(*s, where.endpoint);
    nlohmann::json j = {{"session", s->session},
                        {"directory", s->directory},
                        {"unix_ns", now_unix_ns()},
                        {"problems", s->problems},
                        {"endpoints", nlohmann::json::array()}};
    for (const EndpointStat& e : s->endpoints) j["endpoints"].push_back(endpoint_json(e));
    (void)write_all(STDOUT_FILENO, j.dump() + "\n");
    return kExitOk;
  }

  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  Previous prev;
  for (std::uint64_t n = 0; count == 0 || n < count; ++n) {
    if (n > 0) ::poll(nullptr, 0, static_cast<int>(interval_ms));
    auto s = read_session_stat(where.session);
    if (!s) return fail(kExitError, "stat: " + s.error().message());
    keep_only(*s, where.endpoint);
    const std::int64_t now = now_unix_ns();
    // On a terminal: redraw in place (home, clear to the end); otherwise frames one after
    // another, separated by a blank line.
    std::string text = terminal ? "\x1b[H\x1b[J" : (n > 0 ? "\n" : "");
    text += frame(*s, prev, now);
    if (!write_all(STDOUT_FILENO, text)) return kExitError;
    prev = Previous{};
    prev.at_ns = now;
    for (EndpointStat& e : s->endpoints) {
      for (ConnectionStat& c : e.connections) prev.conns[{e.endpoint, c.id}] = c;
      e.connections.clear();
      prev.endpoints.emplace(e.endpoint, std::move(e));
    }
  }
  return kExitOk;
}

}  // namespace ferry::cli
