// SPDX-License-Identifier: Apache-2.0
/* module_abi.h: the C interface between `ferry exporter` and ferry-metrics.so
 * (docs/observability.md).
 *
 * prometheus-cpp exists in Debian only as shared libraries (with civetweb and zlib, on the
 * shared C++ runtime). `ferry exporter` loads it as this module (dlopen), so that the ferry
 * binary does not link them and its other commands never map them; ferryd runs `ferry
 * exporter` as a child process for --metrics-listen. Only C types cross this line: nothing
 * but the C ABI is shared.
 *
 * The module serves /metrics with prometheus-cpp's Exposer (civetweb); at every scrape its
 * collectable calls `collect` on the HTTP thread, which calls `emit` once per sample. The
 * strings and arrays passed to `emit` need live only until it returns.
 * Thread-safety: `collect` runs on the module's HTTP thread, one scrape at a time. */
#ifndef FERRY_METRICS_MODULE_ABI_H
#define FERRY_METRICS_MODULE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_METRICS_ABI_VERSION 1

enum ferry_metric_type {
  FERRY_METRIC_COUNTER = 0,
  FERRY_METRIC_GAUGE = 1,
  FERRY_METRIC_HISTOGRAM = 2,
};

struct ferry_metric_label {
  const char* name;
  const char* value;
};

struct ferry_metric_sample {
  const char* family; /* e.g. "ferry_messages_total" */
  const char* help;
  int type; /* enum ferry_metric_type; the same for every sample of a family */
  const struct ferry_metric_label* labels;
  size_t label_count;
  double value;                  /* counter, gauge; histogram: the sum of observations */
  uint64_t count;                /* histogram: observations */
  const double* bucket_bounds;   /* histogram: upper bounds, ascending, +Inf implied */
  const uint64_t* bucket_counts; /* histogram: cumulative count at each bound */
  size_t bucket_count;
};

typedef void (*ferry_metrics_emit_fn)(void* sink, const struct ferry_metric_sample* sample);
typedef void (*ferry_metrics_collect_fn)(void* context, void* sink, ferry_metrics_emit_fn emit);

/* Serves /metrics at `listen` ("127.0.0.1:9464"; port 0 picks one). Returns the exporter,
 * or NULL with a message in `error` (NUL-terminated, cut to error_size). */
typedef void* (*ferry_metrics_start_fn)(int abi_version, const char* listen,
                                        ferry_metrics_collect_fn collect, void* context,
                                        char* error, size_t error_size);
/* The port it listens on (for port 0). */
typedef int (*ferry_metrics_port_fn)(void* exporter);
/* Stops serving (waits for a scrape in progress) and frees the exporter. */
typedef void (*ferry_metrics_stop_fn)(void* exporter);

#ifdef __cplusplus
}
#endif

#endif
