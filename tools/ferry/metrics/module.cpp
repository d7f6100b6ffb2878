// SPDX-License-Identifier: Apache-2.0
// ferry-metrics.so: the Prometheus exporter of `ferry exporter`, prometheus-cpp's Exposer
// with one collectable that asks the command for its samples at each scrape (module_abi.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/listen_error.hpp"
#include "module_abi.h"

namespace {

class SampleCollectable final : public prometheus::Collectable {
 public:
  SampleCollectable(ferry_metrics_collect_fn collect, void* context)
      : collect_(collect), context_(context) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    Families families;
    collect_(context_, &families, &SampleCollectable::emit);
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families.order.size());
    for (const std::string& name : families.order) out.push_back(std::move(families.by_name[name]));
    return out;
  }

 private:
  struct Families {
    std::vector<std::string> order;  // as the command emitted them
    std::map<std::string, prometheus::MetricFamily> by_name;
  };

  static void emit(void* sink, const ferry_metric_sample* s) {
    auto& families = *static_cast<Families*>(sink);
    auto [it, added] = families.by_name.try_emplace(s->family);
    prometheus::MetricFamily& family = it->second;
    if (added) {
      families.order.emplace_back(s->family);
      family.name = s->family;
      family.help = s->help;
      family.type = s->type == FERRY_METRIC_COUNTER ? prometheus::MetricType::Counter
                    : s->type == FERRY_METRIC_GAUGE ? prometheus::MetricType::Gauge
                                                    : prometheus::MetricType::Histogram;
    }
    prometheus::ClientMetric m;
    for (std::size_t i = 0; i < s->label_count; ++i) {
      m.label.push_back({s->labels[i].name, s->labels[i].value});
    }
    switch (family.type) {
      case prometheus::MetricType::Counter: m.counter.value = s->value; break;
      case prometheus::MetricType::Gauge: m.gauge.value = s->value; break;
      default:
        m.histogram.sample_count = s->count;
        m.histogram.sample_sum = s->value;
        for (std::size_t b = 0; b < s->bucket_count; ++b) {
          m.histogram.bucket.push_back({s->bucket_counts[b], s->bucket_bounds[b]});
        }
        m.histogram.bucket.push_back({s->count, std::numeric_limits<double>::infinity()});
        break;
    }
    family.metric.push_back(std::move(m));
  }

  ferry_metrics_collect_fn collect_;
  void* context_;
};

struct Exporter {
  std::unique_ptr<prometheus::Exposer> exposer;
  std::shared_ptr<SampleCollectable> collectable;
  sockaddr_storage wake{};  // where a connection reaches the listener (see stop)
  socklen_t wake_len = 0;
};

// The loopback or named address to knock on for a listener at "host:port".
void set_wake_address(Exporter& e, const std::string& listen, int port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() > 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
    if (host == "::") host = "::1";
    auto* a = reinterpret_cast<sockaddr_in6*>(&e.wake);  // NOLINT: sockets API
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) == 1) e.wake_len = sizeof *a;
  } else {
    if (host == "0.0.0.0") host = "127.0.0.1";
    auto* a = reinterpret_cast<sockaddr_in*>(&e.wake);  // NOLINT: sockets API
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &a->sin_addr) == 1) e.wake_len = sizeof *a;
  }
}

void knock(const Exporter& e) {
  const int fd = ::socket(e.wake.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&e.wake), e.wake_len);  // NOLINT
  ::close(fd);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* ferry_metrics_start(int abi_version,
                                                                 const char* listen,
                                                                 ferry_metrics_collect_fn collect,
                                                                 void* context, char* error,
                                                                 size_t error_size) {
  auto fail = [&](const std::string& why) -> void* {
    if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", why.c_str());
    return nullptr;
  };
  if (abi_version != FERRY_METRICS_ABI_VERSION) {
    return fail("ferry-metrics.so speaks interface " + std::to_string(FERRY_METRICS_ABI_VERSION) +
                ", ferry " + std::to_string(abi_version) + ": install matching versions");
  }
  try {
    auto e = std::make_unique<Exporter>();
    // One HTTP thread: scrapes are rare and small.
    e->exposer = std::make_unique<prometheus::Exposer>(listen, 1);
    e->collectable = std::make_shared<SampleCollectable>(collect, context);
    e->exposer->RegisterCollectable(e->collectable);
    const auto ports = e->exposer->GetListeningPorts();
    if (!ports.empty()) set_wake_address(*e, listen, ports.front());
    return e.release();
  } catch (const std::exception& ex) {
    return fail(ferry::tools::listen_error(listen, ex.what()));
  } catch (...) {
    return fail(std::string("cannot listen on ") + listen);
  }
}

__attribute__((visibility("default"))) int ferry_metrics_port(void* exporter) {
  const auto ports = static_cast<Exporter*>(exporter)->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

__attribute__((visibility("default"))) void ferry_metrics_stop(void* exporter) {
  std::unique_ptr<Exporter> e(static_cast<Exporter*>(exporter));
  // civetweb's listener sees a stop only when its poll (2 s timeout) returns: knock on its
  // port until the exposer is gone, so that stopping takes milliseconds, not seconds.
  std::atomic<bool> stopped{false};
  std::thread knocker([&] {
    while (e->wake_len > 0 && !stopped.load()) {
      knock(*e);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  e->exposer.reset();
  stopped.store(true);
  knocker.join();
}
}
