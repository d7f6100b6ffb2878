// SPDX-License-Identifier: Apache-2.0
// ferry exporter: Prometheus metrics for every endpoint of a session (or of every session,
// or of one process), read at each scrape from the servers' stat segments as ferry stat
// reads them (ferry/stat.hpp): endpoints that start or stop between scrapes come and go.
// The HTTP side is ferry-metrics.so (prometheus-cpp, metrics/module_abi.h), which only this
// command loads: the ferry binary does not link prometheus-cpp, so its other commands never
// map it. ferryd --metrics-listen runs this command as its child (`--pid`, `--parent`).
#include <dlfcn.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli.hpp"
#include "common/code_pages.hpp"
#include "common/metrics_listen.hpp"
#include "common/process.hpp"
#include "ferry/session.hpp"
#include "ferry/stat.hpp"
#include "ferryd/published.hpp"
#include "metrics/module_abi.h"

namespace ferry::cli {
namespace {

constexpr Flag kListenFlag{"--listen", "ADDR",
                           "serve http://ADDR/metrics; PORT is 127.0.0.1:PORT (127.0.0.1:9464)"};
constexpr Flag kAllSessionsFlag{"--all-sessions", "", "every session of this user, not one"};
constexpr Flag kPidFlag{"--pid", "PID",
                        "only process PID's endpoints, whatever their session or socket"};
constexpr Flag kOnlyFlag{"--endpoint", "NAME", "only this endpoint (default: all of them)"};
// For a supervisor (ferryd): exit when it does. Not in the help.
constexpr Flag kParentFlag{"--parent", "PID", ""};
constexpr std::array kExporterFlags = {kListenFlag,    kSessionFlag,    kAllSessionsFlag,
                                       kPidFlag,       kOnlyFlag,       kParentFlag,
                                       kReadyFileFlag, kBackgroundFlag, kHelpFlag};

#ifdef FERRY_METRICS_MODULE_DIR

constexpr std::string_view kDefaultListen = "127.0.0.1:9464";

// Which endpoints a scrape exports.
struct Scope {
  bool all_sessions = false;
  std::string session;   // one session; with `pid`, a filter if set
  pid_t pid = 0;         // one process's endpoints (any session, any socket)
  std::string endpoint;  // a filter if set
};

std::vector<EndpointStat> read_scope(const Scope& scope) {
  std::vector<EndpointStat> found;
  const auto add = [&](std::vector<EndpointStat>& endpoints) {
    for (EndpointStat& e : endpoints) {
      if (!scope.endpoint.empty() && e.endpoint != scope.endpoint) continue;
      if (scope.pid != 0 && !scope.session.empty() && e.session != scope.session) continue;
      found.push_back(std::move(e));
    }
  };
  if (scope.pid != 0) {
    if (auto endpoints = read_process_stat(scope.pid)) add(*endpoints);
    return found;
  }
  std::vector<std::string> sessions{scope.session};
  if (scope.all_sessions) sessions = list_sessions().value_or(std::vector<std::string>{});
  for (const std::string& session : sessions) {
    // No directory (yet): no endpoints. Servers it cannot read are left out.
    if (auto s = read_session_stat(session)) add(s->endpoints);
  }
  return found;
}

// The samples of one scrape: each carries its endpoint's session and endpoint labels.
class Emitter {
 public:
  Emitter(void* sink, ferry_metrics_emit_fn emit) : sink_(sink), emit_(emit) {}

  void set_endpoint(const EndpointStat& e) {
    base_ = {{{"session", e.session.c_str()}, {"endpoint", e.endpoint.c_str()}}};
    families_.clear();
  }
  void counter(const char* family, const char* help, double value,
               std::initializer_list<ferry_metric_label> extra = {}) {
    families_.emplace_back(family);
    send(family, help, FERRY_METRIC_COUNTER, value, extra.begin(), extra.size());
  }
  void gauge(const char* family, const char* help, double value,
             std::initializer_list<ferry_metric_label> extra = {}) {
    families_.emplace_back(family);
    send(family, help, FERRY_METRIC_GAUGE, value, extra.begin(), extra.size());
  }
  void histogram(const char* family, const char* help, const LatencyHistogram& h) {
    families_.emplace_back(family);
    ferry_metric_sample s = sample(family, help, FERRY_METRIC_HISTOGRAM, h.sum_seconds, nullptr, 0);
    s.count = h.count;
    s.bucket_bounds = kLatencyBounds;
    s.bucket_counts = h.cumulative;
    s.bucket_count = kLatencyBuckets;
    emit_(sink_, &s);
  }
  // A value the server published, with its own labels after the endpoint's; left out when
  // its name would fall in a family this endpoint's samples already have (or their
  // _bucket, _sum and _count), which Prometheus would refuse as a repeat.
  void published(const PublishedMetric& m, const char* help) {
    if (std::ranges::any_of(families_,
                            [&](std::string_view own) { return m.name.starts_with(own); })) {
      return;
    }
    extra_.clear();
    for (const auto& [name, value] : m.labels) extra_.push_back({name.c_str(), value.c_str()});
    send(m.name.c_str(), help, m.counter() ? FERRY_METRIC_COUNTER : FERRY_METRIC_GAUGE,
         static_cast<double>(m.value), extra_.data(), extra_.size());
  }

 private:
  void send(const char* family, const char* help, int type, double value,
            const ferry_metric_label* extra, std::size_t extra_count) {
    const ferry_metric_sample s = sample(family, help, type, value, extra, extra_count);
    emit_(sink_, &s);
  }
  // A sample of `family` with the endpoint's labels and `extra` after them.
  ferry_metric_sample sample(const char* family, const char* help, int type, double value,
                             const ferry_metric_label* extra, std::size_t extra_count) {
    labels_.assign(base_.begin(), base_.end());
    labels_.insert(labels_.end(), extra, extra + extra_count);
    ferry_metric_sample s{};
    s.family = family;
    s.help = help;
    s.type = type;
    s.labels = labels_.data();
    s.label_count = labels_.size();
    s.value = value;
    return s;
  }

  void* sink_;
  ferry_metrics_emit_fn emit_;
  std::array<ferry_metric_label, 2> base_{};
  std::vector<ferry_metric_label> labels_;
  std::vector<ferry_metric_label> extra_;
  std::vector<std::string_view> families_;  // the endpoint's own, emitted so far
};

double d(std::uint64_t v) {
  return static_cast<double>(v);
}

void emit_endpoint(Emitter& m, const EndpointStat& e) {
  const ServerStats& s = e.server;
  m.gauge("ferry_connections_active", "Connections open now", d(s.active));
  m.gauge("ferry_connections_max", "Connections the endpoint accepts at most",
          d(e.max_connections));
  m.counter("ferry_connections_accepted_total", "Handshakes completed", d(s.accepted));
  const std::pair<const char*, std::uint64_t> rejected[] = {
      {"version", s.rejected_version},     {"credentials", s.rejected_credentials},
      {"full", s.rejected_full},           {"malformed", s.rejected_malformed},
      {"abandoned", s.rejected_abandoned}, {"failed", s.rejected_failed}};
  for (const auto& [reason, n] : rejected) {
    m.counter("ferry_connections_rejected_total", "Handshakes refused, by reason", d(n),
              {{"reason", reason}});
  }
  m.counter("ferry_connections_lost_total",
            "Connections ended by the client (closed or died), not by the server", d(s.lost));
  m.counter("ferry_reconnects_total",
            "Connections from clients that had lost an earlier connection", d(s.reconnects));
  m.counter("ferry_protocol_errors_total",
            "Connections cut off for breaking the protocol (bad frames, corrupt rings)",
            d(s.protocol_errors));
  m.counter("ferry_messages_total", "Messages handled (in) and sent (out) by the server",
            d(s.messages_in), {{"direction", "in"}});
  m.counter("ferry_messages_total", "Messages handled (in) and sent (out) by the server",
            d(s.messages_out), {{"direction", "out"}});
  m.counter("ferry_bytes_total", "Payload bytes of those messages, as they crossed the rings",
            d(s.bytes_in), {{"direction", "in"}});
  m.counter("ferry_bytes_total", "Payload bytes of those messages, as they crossed the rings",
            d(s.bytes_out), {{"direction", "out"}});
  m.counter("ferry_messages_unhandled_total", "Messages no handler took (dropped)", d(s.unhandled));
  m.counter("ferry_handler_errors_total", "Handler calls that threw", d(s.handler_errors));
  for (const auto& [dir, t] : {std::pair<const char*, const DirectionTotals&>{"in", e.in},
                               std::pair<const char*, const DirectionTotals&>{"out", e.out}}) {
    m.counter("ferry_frame_errors_total",
              "Frames the reader refused (CRC, length, sequence, version)", d(t.errors),
              {{"direction", dir}});
    m.counter("ferry_backpressure_waits_total", "Times a producer found its ring full and waited",
              d(t.full_waits), {{"direction", dir}});
    m.counter("ferry_backpressure_wait_seconds_total",
              "Time producers spent waiting for room in full rings",
              static_cast<double>(t.full_wait_ns) / 1e9, {{"direction", dir}});
    m.counter("ferry_wakeup_syscalls_total",
              "futex/eventfd wake-ups, by the side that made them (none while the other side "
              "is awake)",
              d(t.producer_wakes), {{"direction", dir}, {"side", "producer"}});
    m.counter("ferry_wakeup_syscalls_total",
              "futex/eventfd wake-ups, by the side that made them (none while the other side "
              "is awake)",
              d(t.consumer_wakes), {{"direction", dir}, {"side", "consumer"}});
    m.gauge("ferry_ring_used_bytes", "Bytes waiting in the rings of open connections",
            d(t.used_bytes), {{"direction", dir}});
    m.gauge("ferry_ring_capacity_bytes", "Capacity of the rings of open connections",
            d(t.capacity_bytes), {{"direction", dir}});
    m.gauge("ferry_ring_high_water_bytes",
            "Most bytes any open connection's ring held when its producer looked",
            d(t.high_water_bytes), {{"direction", dir}});
  }
  m.gauge("ferry_start_time_seconds", "When the server started, seconds since the epoch",
          static_cast<double>(e.started_unix_ns) / 1e9);
  m.histogram("ferry_handler_duration_seconds",
              "Time handlers took, one call in 16 timed (ServerOptions::handler_histogram, "
              "ferryd --metrics-histogram)",
              e.handler_latency);
  // Last: a published value never repeats a family above (Emitter::published).
  for (const PublishedMetric& p : e.metrics) {
    // ferryd's own (its bus's counters) with their help texts; an application's with one
    // saying where they come from.
    const std::string_view known = ferryd::published_help_text(p.name);
    m.published(p, known.empty() ? "Published by the server (ferry::Server::publish_metric)"
                                 : known.data());
  }
}

// Called by the module on its HTTP thread at each scrape.
void collect(void* context, void* sink, ferry_metrics_emit_fn emit) {
  const auto& scope = *static_cast<const Scope*>(context);
  Emitter m(sink, emit);
  for (const EndpointStat& e : read_scope(scope)) {
    m.set_endpoint(e);
    emit_endpoint(m, e);
  }
}

// The module and its functions.
struct Module {
  std::string path;
  ferry_metrics_start_fn start = nullptr;
  ferry_metrics_port_fn port = nullptr;
  ferry_metrics_stop_fn stop = nullptr;
};

// Loads ferry-metrics.so: next to this executable (a build tree), else where installing
// puts it, relative to it (<prefix>/bin/ferry, <prefix>/<libdir>/ferry/ferry-metrics.so).
// It stays loaded: its C++ runtime may have registered exit-time work.
Result<Module> load_module(std::string_view module_dir) {
  const std::string here = tools::executable_directory();
  const std::string candidates[] = {here + "/ferry-metrics.so",
                                    here + "/../" + std::string(module_dir) + "/ferry-metrics.so"};
  std::string tried;
  for (const std::string& path : candidates) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path + " (missing)";
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      tried += (tried.empty() ? "" : ", ") + path + " (" + (why != nullptr ? why : "?") + ")";
      continue;
    }
    Module m;
    m.path = path;
    m.start = reinterpret_cast<ferry_metrics_start_fn>(::dlsym(handle, "ferry_metrics_start"));
    m.port = reinterpret_cast<ferry_metrics_port_fn>(::dlsym(handle, "ferry_metrics_port"));
    m.stop = reinterpret_cast<ferry_metrics_stop_fn>(::dlsym(handle, "ferry_metrics_stop"));
    if (m.start == nullptr || m.port == nullptr || m.stop == nullptr) {
      return Error(Errc::bad_version, path + " is not a ferry metrics module (missing functions)");
    }
    return m;
  }
  return Error(Errc::not_found, "the exporter needs the module ferry-metrics.so; tried " + tried +
                                    " (Debian: libprometheus-cpp-dev at build time, "
                                    "libprometheus-cpp-pull1.0 at run time)");
}

// A process id given as `flag`.
Result<pid_t> parse_pid(std::string_view flag, const std::string& text) {
  auto n =
      parse_number(flag, text, 1, static_cast<std::uint64_t>(std::numeric_limits<pid_t>::max()));
  if (!n) return n.error();
  return static_cast<pid_t>(*n);
}

// What the flags ask for, checked: a usage error names the flag.
Result<Scope> scope_from(const Common& global, const Args& args) {
  Scope scope;
  scope.all_sessions = args.has("--all-sessions");
  std::string session = global.session;
  if (const std::string* s = args.get("--session")) session = *s;
  if (const std::string* p = args.get("--pid")) {
    auto pid = parse_pid("--pid", *p);
    if (!pid) return pid.error();
    scope.pid = *pid;
  }
  if (scope.all_sessions && scope.pid != 0) {
    return Error(Errc::invalid_argument, "--all-sessions and --pid exclude each other");
  }
  if (scope.all_sessions && !session.empty()) {
    return Error(Errc::invalid_argument, "--all-sessions and --session exclude each other");
  }
  if (!scope.all_sessions && (scope.pid == 0 || !session.empty())) {
    auto name = resolve_session(session);  // a bad $FERRY_SESSION too
    if (!name) return Error(Errc::invalid_argument, "--session: " + name.error().message());
    scope.session = *name;
  }
  if (const std::string* e = args.get("--endpoint")) {
    if (auto ok = check_endpoint_name(*e); !ok) {
      return Error(Errc::invalid_argument, "--endpoint: " + ok.error().message());
    }
    scope.endpoint = *e;
  }
  return scope;
}

int usage_failure(const std::string& message) {
  return fail(kExitUsage, "exporter: " + message + " (see ferry exporter --help)");
}

#endif  // FERRY_METRICS_MODULE_DIR

}  // namespace

int run_exporter(const Common& global, std::span<const std::string> argv) {
  auto args = parse_args("exporter", argv, kExporterFlags);
  if (!args) return fail(kExitUsage, "exporter: " + args.error().message());
  if (args->has("--help")) {
    (void)write_all(
        STDOUT_FILENO,
        usage_text(
            "ferry exporter [--listen ADDR] [--session NAME | --all-sessions | --pid PID]\n"
            "                      [--endpoint NAME] [--ready-file PATH] [--background]",
            "Serves Prometheus metrics at http://ADDR/metrics for every ferry endpoint of the\n"
            "session (ferryd's and applications' own servers alike), read at each scrape from\n"
            "the servers' shared memory as ferry stat reads it: endpoints that start or stop\n"
            "between scrapes come and go. Every sample carries session and endpoint labels.\n"
            "Says where it listens on stdout, then runs until interrupted (exit 0).",
            kExporterFlags, local_exit_codes_text()));
    return kExitOk;
  }
#ifndef FERRY_METRICS_MODULE_DIR
  (void)global;
  return fail(kExitUsage,
              "exporter: this ferry was built without metrics (FERRY_METRICS=OFF); rebuild "
              "with -DFERRY_METRICS=ON");
#else
  const std::string* listen_text = args->get("--listen");
  auto listen =
      tools::normalize_metrics_listen(listen_text != nullptr ? *listen_text : kDefaultListen);
  if (!listen) return fail(kExitUsage, "exporter: " + listen.error().message());
  auto scope = scope_from(global, *args);
  if (!scope) return usage_failure(scope.error().message());
  pid_t parent = 0;
  if (const std::string* p = args->get("--parent")) {
    auto pid = parse_pid("--parent", *p);
    if (!pid) return usage_failure(pid.error().message());
    if (args->has("--background")) {
      return usage_failure("--parent and --background exclude each other");
    }
    parent = *pid;
  }
  if (parent != 0) {
    // Dies with the process that started it, even by SIGKILL; if that one is already gone
    // (it died before this line), so is the reason to run.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      return fail(kExitError,
                  "exporter: its parent, process " + std::to_string(parent) + ", is gone");
    }
  }
  if (auto bg = start_background_if_asked(*args); !bg) {
    return fail(kExitError, "exporter: " + bg.error().message());
  }
  // The module's HTTP threads inherit this mask: SIGINT and SIGTERM come to sigwait below.
  sigset_t stop_signals;
  ::sigemptyset(&stop_signals);
  ::sigaddset(&stop_signals, SIGINT);
  ::sigaddset(&stop_signals, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto module = load_module(FERRY_METRICS_MODULE_DIR);
  if (!module) return fail(kExitError, "exporter: " + module.error().message());
  std::array<char, 512> error{};
  void* exporter = module->start(FERRY_METRICS_ABI_VERSION, listen->c_str(), &collect, &*scope,
                                 error.data(), error.size());
  if (exporter == nullptr) return fail(kExitError, "exporter: " + std::string(error.data()));
  const std::string host = listen->substr(0, listen->rfind(':'));
  const std::string url =
      "http://" + host + ":" + std::to_string(module->port(exporter)) + "/metrics";
  // The line ferryd reads from its child, too: the URL, then the module in parentheses.
  (void)write_all(STDOUT_FILENO, "serving metrics at " + url + " (module " + module->path + ")\n");
  if (auto ready = announce_ready(*args); !ready) {
    module->stop(exporter);
    return fail(kExitError, "exporter: " + ready.error().message());
  }
  // Set up: the code only that ran need not stay resident (what a scrape runs comes back).
  (void)tools::drop_code_pages();
  int signal = 0;
  ::sigwait(&stop_signals, &signal);
  module->stop(exporter);
  return kExitOk;
#endif
}

}  // namespace ferry::cli
