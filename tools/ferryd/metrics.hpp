// SPDX-License-Identifier: Apache-2.0
// ferryd/metrics.hpp: ferryd's Prometheus metrics (--metrics-listen, docs/observability.md).
//
// ferryd serves no HTTP itself: it runs `ferry exporter` (the ferry command installed next
// to it) as a child process, which exports ferryd's endpoint from shared memory at each
// scrape: the endpoint's counters and connections, the handler histogram, and what ferryd
// publishes beside them (its bus's counters and its own, ferryd/published.hpp). So
// prometheus-cpp and the libraries it brings never load into ferryd, and nothing on the
// message path waits for a scrape. The child dies with ferryd (PR_SET_PDEATHSIG, even when
// ferryd is killed) and is stopped when ferryd stops; if it dies, ferryd logs why and starts
// it again after a pause, on the same port.
// Thread-safety: ferryd's main thread only (the log is its).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/log.hpp"
#include "ferry/result.hpp"
#include "ferry/server.hpp"
#include "ferry/unique_fd.hpp"

namespace ferry::ferryd {

// What ferryd counts itself, for the exporter.
struct DaemonCounters {
  std::atomic<std::uint64_t> stale_removed{0};  // objects of dead owners removed
};

// Publishes ferryd's own counters (ferryd/published.hpp) in the server's stat segment, as
// they are now: ferryd counts them at start-up, before the server exists (and at shutdown,
// after it is gone).
void publish_daemon_counters(ferry::Server& server, const DaemonCounters& counters);

class Metrics {
 public:
  // Starts the exporter on `listen` (normalized: "address:port") for this process's
  // endpoint and waits until it listens, then logs metrics_listening. Errors say why not,
  // in the exporter's words where it had any ("cannot listen on 127.0.0.1:9464: Address
  // already in use"), or name the ferry command it looked for.
  static ferry::Result<std::unique_ptr<Metrics>> start(const std::string& listen, tools::Log& log,
                                                       const std::string& endpoint);
  // Stops the exporter: SIGTERM, SIGKILL if it has not gone after a second.
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The port it listens on (the one the system chose for port 0).
  int port() const noexcept { return port_; }
  // The exporter's process (0 while it is being restarted).
  pid_t pid() const noexcept { return pid_; }

  // Call after each turn of ferryd's loop: if the exporter died, logs it and starts it
  // again once the pause is over. One load when nothing happened.
  void tend();

 private:
  enum class State : std::uint8_t { running, starting, waiting };
  Metrics(tools::Log& log, std::string endpoint, std::string exporter);

  // Spawns the exporter on listen_; pid_ and output_ are its.
  ferry::Result<void> spawn();
  // Reads what the exporter wrote (it never blocks): true once it said where it listens.
  bool read_output();
  // The exporter ended with `status`: logs it, schedules the restart.
  void exited(int status);
  void log_listening(bool restarted);

  tools::Log& log_;
  std::string endpoint_;
  std::string exporter_;  // the ferry command
  std::string listen_;    // "address:port", the port the first start got
  int port_ = 0;
  std::string url_;
  std::string module_;
  pid_t pid_ = 0;
  UniqueFd output_;   // the read end of its stdout and stderr
  std::string said_;  // what it wrote so far
  State state_ = State::running;
  std::chrono::steady_clock::time_point started_{};  // the last spawn
  std::chrono::steady_clock::time_point restart_at_{};
  std::chrono::milliseconds pause_{1000};
};

}  // namespace ferry::ferryd
