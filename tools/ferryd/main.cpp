// SPDX-License-Identifier: Apache-2.0
// ferryd: the local message bus. Runs one endpoint (default "bus") in the foreground until
// SIGINT or SIGTERM; configuration from its TOML file and flags (docs/ferryd.md). Logs go
// to stderr, one JSON object a line by default (tools/common/log.hpp).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "common/code_pages.hpp"
#include "common/log.hpp"
#include "common/service_notify.hpp"
#include "ferry/server.hpp"
#include "ferry/session.hpp"
#include "ferryd/bus.hpp"
#include "ferryd/config.hpp"
#include "ferryd/metrics.hpp"

namespace ferry::ferryd {
namespace {

using tools::Log;
using tools::LogLevel;

ferry::Server* g_server = nullptr;
volatile std::sig_atomic_t g_stopping = 0;

extern "C" void on_signal(int /*signal*/) {
  g_stopping = 1;
  if (g_server != nullptr) g_server->stop();  // async-signal-safe; wakes the loop
}

// The server's turns, and after each the bus's timers (request expiry) and the metrics
// exporter's care. Asleep, it wakes for the next expiry (at most 100 times a second), else
// every 100 ms, as Server::run().
ferry::Result<void> serve(ferry::Server& server, ferryd::Bus& bus, ferryd::Metrics* metrics) {
  constexpr std::chrono::milliseconds kIdle{100};
  while (g_stopping == 0) {
    if (auto r = server.run_once(bus.next_tick(kIdle)); !r) return r;
    bus.tick();
    if (metrics != nullptr && g_stopping == 0) metrics->tend();
  }
  return {};
}

// Removes the objects of dead owners in `session` and says what went (paths only).
void clean_up(Log& log, const std::string& session_option, const char* when,
              ferryd::DaemonCounters& counters) {
  auto session = ferry::resolve_session(session_option);
  if (!session) return;  // Server::create reports a bad session
  auto report = ferry::cleanup_session(*session);
  if (!report) {
    log.write(LogLevel::warn, "cleanup", "cleanup_failed",
              std::string(when) + " clean-up: " + report.error().message(), {{"when", when}});
    return;
  }
  counters.stale_removed.fetch_add(report->removed.size(), std::memory_order_relaxed);
  for (const std::string& p : report->removed) {
    log.write(LogLevel::info, "cleanup", "stale_removed",
              std::string(when) + " clean-up: removed " + p + " (its owner is dead)",
              {{"when", when}, {"path", p}});
  }
  for (const std::string& problem : report->problems) {
    log.write(LogLevel::warn, "cleanup", "cleanup_problem",
              std::string(when) + " clean-up: " + problem, {{"when", when}});
  }
}

// Tells systemd (a Type=notify unit) that ferryd is ready or stopping. A failure is worth a
// warning, not a stop: without the unit, nobody is waiting.
void tell_service_manager(Log& log, std::string_view state) {
  if (auto told = tools::notify_service_manager(state); !told) {
    log.write(
        LogLevel::warn, "server", "notify_failed",
        "cannot tell the service manager " + std::string(state) + ": " + told.error().message());
  }
}

int run(int argc, char** argv) {
  std::string output;
  bool exit_now = false;
  auto config = parse_ferryd_args(argc, argv, &output, &exit_now);
  if (exit_now) {
    std::fputs(output.c_str(), stdout);
    return 0;
  }
  if (!config) {
    std::fprintf(stderr, "ferryd: %s\n", config.error().message().c_str());
    return 2;
  }
  // Both were checked by the configuration parser.
  Log log(tools::parse_log_level(config->log_level).value(),
          tools::parse_log_format(config->log_format).value());
  if (config->background) {
    if (auto r = tools::start_in_background(); !r) {
      log.write(LogLevel::error, "server", "start_failed", r.error().message());
      return 1;
    }
  }
  // Stale objects of dead owners in our session go first; live owners' stay.
  ferryd::DaemonCounters counters;
  clean_up(log, config->server.session, "start-up", counters);
  auto created = ferry::Server::create(config->server);
  if (!created) {
    log.write(LogLevel::error, "server", "start_failed",
              "cannot start: " + created.error().message());
    return 1;
  }
  // Never moved from here on: the bus and the signal handler hold its address.
  // Optional only to destroy it before the shutdown clean-up.
  std::optional<ferry::Server> server(std::move(*created));
  const std::string endpoint = config->server.endpoint;
  ferryd::Bus bus(*server, config->bus);
  ferryd::publish_daemon_counters(*server, counters);
  // Names, pids, ids and reasons only: never payload bytes.
  server->on_connect([&log, &endpoint](const ferry::ConnectionInfo& c) {
    if (!log.enabled(LogLevel::debug)) return;
    log.write(LogLevel::debug, "server", "connected",
              "connected: " + c.name + " (pid " + std::to_string(c.pid) + ")",
              {{"endpoint", endpoint},
               {"conn", c.id},
               {"pid", std::int64_t{c.pid}},
               {"uid", std::uint64_t{c.uid}},
               {"name", c.name}});
  });
  // A peer that broke the protocol is a warning (limited: it may try again and again);
  // anyone else leaving is routine.
  bus.observe_disconnects(
      [&log, &endpoint](const ferry::ConnectionInfo& c, ferry::DisconnectReason why) {
        const bool bad = why == ferry::DisconnectReason::protocol_error;
        const LogLevel level = bad ? LogLevel::warn : LogLevel::debug;
        if (!log.enabled(level)) return;
        const std::string reason(ferry::to_string(why));
        const std::string msg = bad ? "disconnected " + c.name + " (pid " + std::to_string(c.pid) +
                                          "): it broke the protocol"
                                    : "disconnected: " + c.name + " (" + reason + ")";
        log.limited(level, "server", bad ? "protocol_error" : "disconnected",
                    bad ? std::uint64_t{c.uid} : 0, msg,
                    {{"endpoint", endpoint},
                     {"conn", c.id},
                     {"pid", std::int64_t{c.pid}},
                     {"name", c.name},
                     {"reason", reason}});
      });
  // Slow subscribers and unanswered requests: once per episode, or limited per client.
  bus.observe_events([&log, &endpoint](const ferryd::BusEvent& e) {
    const LogLevel level = e.warning ? LogLevel::warn : LogLevel::info;
    if (!log.enabled(level)) return;
    const ferry::ConnectionInfo none;
    const ferry::ConnectionInfo& c = e.peer != nullptr ? *e.peer : none;
    log.limited(level, "bus", e.event, c.id, e.msg,
                {{"endpoint", endpoint},
                 {"conn", c.id},
                 {"pid", std::int64_t{c.pid}},
                 {"name", c.name},
                 {"type", std::uint64_t{e.type}},
                 {"count", e.count}});
  });
  std::unique_ptr<ferryd::Metrics> metrics;
  if (!config->metrics_listen.empty()) {
    auto m = ferryd::Metrics::start(config->metrics_listen, log, endpoint);
    if (!m) {
      log.write(LogLevel::error, "metrics", "start_failed", "cannot start: " + m.error().message(),
                {{"endpoint", endpoint}, {"listen", config->metrics_listen}});
      return 1;
    }
    metrics = std::move(*m);
  }
  g_server = &*server;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (const std::string& note = server->max_connections_note(); !note.empty()) {
    log.write(LogLevel::warn, "server", "max_connections_lowered",
              "max_connections " + std::to_string(server->max_connections()) + ", " + note,
              {{"endpoint", endpoint},
               {"max_connections", std::uint64_t{server->max_connections()}},
               {"asked", std::uint64_t{config->server.max_connections}}});
  }
  log.write(LogLevel::info, "server", "listening",
            "listening on " + server->socket_path() + " (session " + server->session() +
                ", up to " + std::to_string(server->max_connections()) + " connections)" +
                (config->config_path.empty() ? "" : ", config " + config->config_path),
            {{"endpoint", endpoint},
             {"socket", server->socket_path()},
             {"session", server->session()},
             {"pid", std::int64_t{::getpid()}}});
  // Start-up is over: the code only it ran need not stay resident (code_pages.hpp).
  const tools::Dropped dropped = tools::drop_code_pages();
  log.write(LogLevel::debug, "server", "code_pages_dropped",
            "dropped the resident pages of " + std::to_string(dropped.mappings) +
                " code mappings (" + std::to_string(dropped.bytes / 1024) + " kB mapped)",
            {{"endpoint", endpoint}, {"mappings", std::uint64_t{dropped.mappings}}});
  // The socket listens (it appears only then) and everything else is set up.
  tell_service_manager(log, "READY=1");
  tools::background_ready();
  auto r = serve(*server, bus, metrics.get());
  tell_service_manager(log, "STOPPING=1");
  g_server = nullptr;
  metrics.reset();  // the exporter stops before the server goes
  const ferry::ServerStats s = server->stats();
  const ferryd::BusStats b = bus.stats();
  log.write(LogLevel::info, "server", "stopped",
            "stopped: " + std::to_string(s.accepted) + " connections accepted, " +
                std::to_string(s.rejected) + " rejected, " + std::to_string(s.lost) + " lost, " +
                std::to_string(s.messages_in) + " messages in, " + std::to_string(s.messages_out) +
                " out, " + std::to_string(s.protocol_errors) + " protocol errors; " +
                std::to_string(b.dropped) + " deliveries dropped for slow subscribers, " +
                std::to_string(b.slow_disconnected) + " slow subscribers disconnected, " +
                std::to_string(b.expired) + " requests expired, " + std::to_string(b.refused) +
                " refused",
            {{"endpoint", endpoint},
             {"accepted", s.accepted},
             {"rejected", s.rejected},
             {"lost", s.lost},
             {"messages_in", s.messages_in},
             {"messages_out", s.messages_out},
             {"protocol_errors", s.protocol_errors},
             {"published", b.published},
             {"deliveries", b.deliveries},
             {"deliveries_dropped", b.dropped},
             {"slow_subscribers_dropped_for", b.slow_dropped_for},
             {"slow_subscribers_disconnected", b.slow_disconnected},
             {"requests", b.requests},
             {"replies", b.replies},
             {"requests_expired", b.expired},
             {"requests_refused", b.refused},
             {"error_replies_held", b.errors_held},
             {"routes", b.routes}});
  const std::string session = server->session();
  server.reset();  // our socket and lock go (bus only keeps an unused reference); then
                   // whatever else died meanwhile
  clean_up(log, session, "shutdown", counters);
  if (!r) {
    log.write(LogLevel::error, "server", "failed", r.error().message());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace ferry::ferryd

int main(int argc, char** argv) {
  try {
    return ferry::ferryd::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferryd: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ferryd: unexpected error\n");
  }
  return 1;
}
