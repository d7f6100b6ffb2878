// SPDX-License-Identifier: Apache-2.0
// ferryd's Prometheus exporter (metrics.hpp).
#include "ferryd/metrics.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <initializer_list>
#include <utility>
#include <vector>

#include "ferry/metrics/module_abi.h"
#include "ferry/stat.hpp"
#include "ferryd/published.hpp"

namespace ferry::ferryd {

struct Metrics::Impl {
  ferry_metrics_port_fn port = nullptr;
  ferry_metrics_stop_fn stop = nullptr;
  void* exporter = nullptr;
  const ferry::Server* server = nullptr;
  const Bus* bus = nullptr;
  std::string endpoint;
  const DaemonCounters* daemon = nullptr;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  // The module stays loaded: its C++ runtime may have registered exit-time work.
  ~Impl() {
    if (exporter != nullptr && stop != nullptr) stop(exporter);
  }
};

namespace {

// The samples of one scrape, with the labels every sample carries.
class Emitter {
 public:
  Emitter(void* sink, ferry_metrics_emit_fn emit, const std::string& session,
          const std::string& endpoint)
      : sink_(sink),
        emit_(emit),
        base_{{{"session", session.c_str()}, {"endpoint", endpoint.c_str()}}} {}

  void counter(const char* family, const char* help, double value,
               std::initializer_list<ferry_metric_label> extra = {}) {
    send(family, help, FERRY_METRIC_COUNTER, value, extra);
  }
  void gauge(const char* family, const char* help, double value,
             std::initializer_list<ferry_metric_label> extra = {}) {
    send(family, help, FERRY_METRIC_GAUGE, value, extra);
  }
  void histogram(const char* family, const char* help, const ferry::LatencyHistogram& h) {
    ferry_metric_sample s{};
    s.family = family;
    s.help = help;
    s.type = FERRY_METRIC_HISTOGRAM;
    s.labels = base_.data();
    s.label_count = base_.size();
    s.value = h.sum_seconds;
    s.count = h.count;
    s.bucket_bounds = ferry::kLatencyBounds;
    s.bucket_counts = h.cumulative;
    s.bucket_count = ferry::kLatencyBuckets;
    emit_(sink_, &s);
  }

 private:
  void send(const char* family, const char* help, int type, double value,
            std::initializer_list<ferry_metric_label> extra) {
    std::array<ferry_metric_label, 4> labels{};
    std::size_t n = 0;
    for (const auto& l : base_) labels[n++] = l;
    for (const auto& l : extra) {
      if (n < labels.size()) labels[n++] = l;
    }
    ferry_metric_sample s{};
    s.family = family;
    s.help = help;
    s.type = type;
    s.labels = labels.data();
    s.label_count = n;
    s.value = value;
    emit_(sink_, &s);
  }

  void* sink_;
  ferry_metrics_emit_fn emit_;
  std::array<ferry_metric_label, 2> base_;
};

double d(std::uint64_t v) {
  return static_cast<double>(v);
}

void emit_endpoint(Emitter& m, const ferry::EndpointStat& e) {
  const ferry::ServerStats& s = e.server;
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
  for (const auto& [dir, t] :
       {std::pair<const char*, const ferry::DirectionTotals&>{"in", e.in},
        std::pair<const char*, const ferry::DirectionTotals&>{"out", e.out}}) {
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
}

void emit_bus(Emitter& m, const BusStats& b) {
  m.counter("ferry_bus_published_total", "Messages published on the bus", d(b.published));
  m.counter("ferry_bus_deliveries_total", "Copies of publications handed to subscribers",
            d(b.deliveries));
  m.counter("ferry_bus_deliveries_dropped_total",
            "Copies of publications, and replies, dropped for subscribers and requesters whose "
            "rings stayed full",
            d(b.dropped));
  const char* slow =
      "Subscribers whose full ring held a publication back for "
      "slow_subscriber_timeout_ms, by what ferryd did";
  m.counter("ferry_bus_slow_subscribers_total", slow, d(b.slow_dropped_for), {{"action", "drop"}});
  m.counter("ferry_bus_slow_subscribers_total", slow, d(b.slow_disconnected),
            {{"action", "disconnect"}});
  m.counter("ferry_bus_requests_total", "Requests forwarded to a serving client", d(b.requests));
  m.counter("ferry_bus_replies_total", "Replies routed back to their requesters", d(b.replies));
  const std::pair<const char*, std::uint64_t> failed[] = {{"no_service", b.no_service},
                                                          {"refused", b.refused},
                                                          {"expired", b.expired},
                                                          {"server_gone", b.failed_requests}};
  for (const auto& [reason, n] : failed) {
    m.counter("ferry_bus_requests_failed_total",
              "Requests ferryd answered with an error reply, by reason", d(n),
              {{"reason", reason}});
  }
  m.counter("ferry_bus_orphan_replies_total",
            "Replies dropped: their requester had gone or the request had expired",
            d(b.orphan_replies));
  m.counter("ferry_bus_error_replies_held_total",
            "Error replies kept for a requester whose ring was full, sent once it had room",
            d(b.errors_held));
  m.gauge("ferry_bus_requests_outstanding", "Requests forwarded and not answered yet", d(b.routes));
}

// (Unused when built without metrics.)
[[maybe_unused]] void collect(void* context, void* sink, ferry_metrics_emit_fn emit) {
  const auto& impl = *static_cast<const Metrics::Impl*>(context);
  const std::string& session = impl.server->session();
  Emitter m(sink, emit, session, impl.endpoint);
  auto endpoints = ferry::read_process_stat(0);
  if (endpoints) {
    for (const ferry::EndpointStat& e : *endpoints) {
      if (e.session == session && e.endpoint == impl.endpoint) emit_endpoint(m, e);
    }
  }
  emit_bus(m, impl.bus->stats());
  m.counter("ferry_stale_objects_removed_total",
            "Sockets, locks and segments of dead owners ferryd removed",
            d(impl.daemon->stale_removed.load(std::memory_order_relaxed)));
  m.histogram("ferry_handler_duration_seconds",
              "Time handlers took, one call in 16 timed (ferryd --metrics-histogram)",
              impl.server->handler_latency());
}

[[maybe_unused]] std::string directory_of_executable() {
  std::array<char, 4096> path{};
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return {};
  std::string p(path.data(), static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

}  // namespace

void publish_daemon_counters(ferry::Server& server, const DaemonCounters& counters) {
  // Fails only when the application took every slot; ferryd's own bus takes 14 of 32.
  if (auto stale = server.publish_metric(kStaleRemoved.series)) {
    (*stale)->store(counters.stale_removed.load(std::memory_order_relaxed),
                    std::memory_order_relaxed);
  }
}

Metrics::Metrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Metrics::~Metrics() = default;

int Metrics::port() const {
  return impl_->port(impl_->exporter);
}

ferry::Result<std::unique_ptr<Metrics>> Metrics::start(const std::string& listen,
                                                       const ferry::Server& server, const Bus& bus,
                                                       const std::string& endpoint,
                                                       const DaemonCounters& daemon) {
#ifndef FERRYD_METRICS_MODULE_DIR
  (void)listen;
  (void)server;
  (void)bus;
  (void)endpoint;
  (void)daemon;
  return ferry::Error(ferry::Errc::invalid_argument,
                      "this ferryd was built without metrics (FERRY_METRICS=OFF); rebuild "
                      "with -DFERRY_METRICS=ON, or remove metrics_listen");
#else
  // Next to ferryd (a build tree), else where installing puts it, relative to ferryd
  // (<prefix>/bin/ferryd, <prefix>/<libdir>/ferry/ferry-metrics.so).
  const std::string here = directory_of_executable();
  const std::string candidates[] = {
      here + "/ferry-metrics.so", here + "/../" + FERRYD_METRICS_MODULE_DIR + "/ferry-metrics.so"};
  void* module = nullptr;
  std::string tried;
  std::string loaded;
  for (const std::string& path : candidates) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path + " (missing)";
      continue;
    }
    module = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module != nullptr) {
      loaded = path;
      break;
    }
    const char* why = ::dlerror();
    tried += (tried.empty() ? "" : ", ") + path + " (" + (why != nullptr ? why : "?") + ")";
  }
  if (module == nullptr) {
    return ferry::Error(ferry::Errc::not_found,
                        "metrics need the module ferry-metrics.so; tried " + tried +
                            " (Debian: libprometheus-cpp-dev at build time, "
                            "libprometheus-cpp-pull1.0 at run time)");
  }
  auto impl = std::make_unique<Impl>();
  auto start_fn = reinterpret_cast<ferry_metrics_start_fn>(::dlsym(module, "ferry_metrics_start"));
  impl->port = reinterpret_cast<ferry_metrics_port_fn>(::dlsym(module, "ferry_metrics_port"));
  impl->stop = reinterpret_cast<ferry_metrics_stop_fn>(::dlsym(module, "ferry_metrics_stop"));
  if (start_fn == nullptr || impl->port == nullptr || impl->stop == nullptr) {
    return ferry::Error(ferry::Errc::bad_version,
                        loaded + " is not a ferryd metrics module (missing functions)");
  }
  impl->server = &server;
  impl->bus = &bus;
  impl->endpoint = endpoint;
  impl->daemon = &daemon;
  std::array<char, 512> error{};
  impl->exporter = start_fn(FERRY_METRICS_ABI_VERSION, listen.c_str(), &collect, impl.get(),
                            error.data(), error.size());
  if (impl->exporter == nullptr) {
    return ferry::Error(ferry::Errc::invalid_argument, "metrics: " + std::string(error.data()));
  }
  auto m = std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
  m->module_path_ = loaded;
  return m;
#endif
}

}  // namespace ferry::ferryd
