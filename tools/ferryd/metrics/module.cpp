// ferryd-metrics.so: ferryd's Prometheus exporter, prometheus-cpp's Exposer with one
// collectable that asks ferryd for its samples at each scrape (module_abi.h).
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ferryd/metrics/module_abi.h"

namespace {

class FerrydCollectable final : public prometheus::Collectable {
 public:
  FerrydCollectable(ferry_metrics_collect_fn collect, void* context)
      : collect_(collect), context_(context) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    Families families;
    collect_(context_, &families, &FerrydCollectable::emit);
    std::vector<prometheus::MetricFamily> out;
    out.reserve(families.order.size());
    for (const std::string& name : families.order) out.push_back(std::move(families.by_name[name]));
    return out;
  }

 private:
  struct Families {
    std::vector<std::string> order;  // as ferryd emitted them
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
  std::shared_ptr<FerrydCollectable> collectable;
};

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
    return fail("ferryd-metrics.so speaks interface " + std::to_string(FERRY_METRICS_ABI_VERSION) +
                ", ferryd " + std::to_string(abi_version) + ": install matching versions");
  }
  try {
    auto e = std::make_unique<Exporter>();
    // One HTTP thread: scrapes are rare and small.
    e->exposer = std::make_unique<prometheus::Exposer>(listen, 1);
    e->collectable = std::make_shared<FerrydCollectable>(collect, context);
    e->exposer->RegisterCollectable(e->collectable);
    return e.release();
  } catch (const std::exception& ex) {
    return fail(std::string("cannot listen on ") + listen + ": " + ex.what());
  } catch (...) {
    return fail(std::string("cannot listen on ") + listen);
  }
}

__attribute__((visibility("default"))) int ferry_metrics_port(void* exporter) {
  const auto ports = static_cast<Exporter*>(exporter)->exposer->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

__attribute__((visibility("default"))) void ferry_metrics_stop(void* exporter) {
  delete static_cast<Exporter*>(exporter);  // NOLINT(cppcoreguidelines-owning-memory): C API
}
}
