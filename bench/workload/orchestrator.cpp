// SPDX-License-Identifier: Apache-2.0
// bench/workload/orchestrator.cpp: running one benchmark (orchestrator.hpp).
#include "workload/orchestrator.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "ferry/session.hpp"
#include "workload/participants.hpp"
#include "workload/report.hpp"
#include "workload/role.hpp"
#include "workload/roles.hpp"
#include "workload/shared_state.hpp"

namespace ferry::bench {

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kServerStartNs = 10 * kSecond;
constexpr std::int64_t kConnectNs = 120 * kSecond;
// How long a participant holding on (idle connections, the daemon) may take to leave.
constexpr std::int64_t kLeaveNs = 30 * kSecond;
// A run that takes this much longer than planned is stuck, not slow.
constexpr std::int64_t kGraceNs = 120 * kSecond;

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int /*sig*/) {
  g_interrupted = 1;
}

// The progress line on stderr: after the first second, refreshed in place on a terminal,
// a line a second otherwise, none with --json unless stderr is a terminal.
class Progress {
 public:
  explicit Progress(const Options& o)
      : o_(o), tty_(::isatty(STDERR_FILENO) == 1), enabled_(tty_ || !o.json) {}

  void update(std::int64_t elapsed_ns, std::uint64_t msgs) {
    if (!enabled_) return;
    // The rate is measured from the first count seen (warm-up rounds are not counted).
    if (msgs > 0 && first_msgs_ == 0) {
      first_msgs_ = msgs;
      first_at_ = elapsed_ns;
    }
    if (elapsed_ns < kSecond) return;
    const std::int64_t every = tty_ ? kSecond / 4 : kSecond;
    if (shown_at_ != 0 && elapsed_ns - shown_at_ < every) return;
    shown_at_ = elapsed_ns;
    const double s = static_cast<double>(elapsed_ns) / 1e9;
    const double rate = elapsed_ns > first_at_ && first_msgs_ > 0
                            ? static_cast<double>(msgs - first_msgs_) * 1e9 /
                                  static_cast<double>(elapsed_ns - first_at_)
                            : 0;
    std::fprintf(stderr, "%sferry bench: %s over %s  %.1f s  %" PRIu64 " %s  %.0f/s%s",
                 tty_ ? "\r" : "", std::string(to_string(o_.scenario)).c_str(),
                 std::string(to_string(o_.transport)).c_str(), s, msgs,
                 o_.request_reply()                ? "round trips"
                 : o_.scenario == Scenario::fanout ? "deliveries"
                                                   : "msgs",
                 rate, tty_ ? "\033[K" : "\n");
    std::fflush(stderr);
  }
  void finish() const {
    if (tty_ && shown_at_ != 0) std::fputs("\r\033[K", stderr);
  }

 private:
  const Options& o_;
  bool tty_;
  bool enabled_;
  std::int64_t shown_at_ = 0;
  std::uint64_t first_msgs_ = 0;
  std::int64_t first_at_ = 0;
};

// SIGINT and SIGTERM set g_interrupted while a run is on; the caller's handlers come back
// after it (run_bench may be one command of a larger program).
class InterruptHandlers {
 public:
  InterruptHandlers() {
    g_interrupted = 0;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  InterruptHandlers(const InterruptHandlers&) = delete;
  InterruptHandlers& operator=(const InterruptHandlers&) = delete;
  ~InterruptHandlers() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

std::string failure_text(const Participant& p) {
  return p.name + ": " + p.error;
}

int complain(const std::string& message) {
  std::fprintf(stderr, "ferry bench: %s\n", message.c_str());
  return 1;
}

class Run {
 public:
  Run(const Options& o, const std::vector<std::string>& self, const PeerTransports* peers)
      : o_(o), self_(self), peers_(peers) {}
  int go();

 private:
  int stop(const std::string& message);
  Result<std::size_t> start(std::string name, std::vector<std::string> role_args,
                            std::vector<int> keep);
  // Starts a participant that holds on until `hold`'s write end closes (idle connections,
  // the daemon) and waits until it is ready.
  Result<std::size_t> start_holder(std::string name, std::string_view role, Pipe& hold,
                                   const char* too_slow);
  // Closes `hold` and gives `who` kLeaveNs to leave.
  void release(Pipe& hold, const std::optional<std::size_t>& who);
  Summary summarize() const;

  const Options& o_;
  const std::vector<std::string>& self_;
  const PeerTransports* peers_;
  std::vector<std::string> base_args_;
  SharedState state_;
  tools::SharedRegion naive_rings_;  // --transport naive
  Participants ps_;
  std::size_t server_ = 0;
  std::vector<std::size_t> busy_;     // the server and the clients
  std::vector<std::size_t> clients_;  // fanout: the subscribers
  std::vector<std::size_t> ready_;    // the clients and fanout's publisher
  std::optional<std::size_t> idle_;
  std::optional<std::size_t> daemon_;
};

int Run::stop(const std::string& message) {
  ps_.signal_all(SIGTERM);
  ps_.reap_all(3000);
  return complain(message);
}

Result<std::size_t> Run::start(std::string name, std::vector<std::string> role_args,
                               std::vector<int> keep) {
  std::vector<std::string> args = base_args_;
  args.insert(args.end(), role_args.begin(), role_args.end());
  keep.push_back(state_.fd());
  if (naive_rings_.fd() >= 0) keep.push_back(naive_rings_.fd());
  return ps_.start(std::move(name), self_, std::move(args), keep);
}

Result<std::size_t> Run::start_holder(std::string name, std::string_view role, Pipe& hold,
                                      const char* too_slow) {
  if (!hold.ok()) return Error(Errc::system, "cannot create a pipe");
  auto who =
      start(std::move(name), {"--role", std::string(role), "--go-fd", std::to_string(hold.read)},
            {hold.read});
  if (!who) return who.error();
  hold.close_read();
  if (!ps_.wait_ready(std::span(&*who, 1), tools::now_ns() + kConnectNs)) {
    const Participant* f = ps_.failed();
    return Error(Errc::system, f != nullptr ? failure_text(*f) : too_slow);
  }
  return *who;
}

void Run::release(Pipe& hold, const std::optional<std::size_t>& who) {
  hold.close_write();
  if (!who) return;
  const std::int64_t until = tools::now_ns() + kLeaveNs;
  while (!ps_.all_closed(std::span(&*who, 1)) && tools::now_ns() < until) ps_.pump(100);
}

int Run::go() {
  raise_fd_limit();
  auto session = resolve_session();
  if (!session) return complain(session.error().message());
  auto state = SharedState::create(o_.clients + 1);
  if (!state) return complain(state.error().message());
  state_ = std::move(*state);
  base_args_ = workload_arguments(o_);
  base_args_.emplace_back("--endpoint");
  base_args_.push_back("bench-" + std::to_string(::getpid()));
  base_args_.emplace_back("--session");
  base_args_.push_back(*session);
  base_args_.emplace_back("--state-fd");
  base_args_.push_back(std::to_string(state_.fd()));
  if (o_.transport == Transport::naive) {
    auto rings = create_naive_rings(o_);
    if (!rings) return complain(rings.error().message());
    naive_rings_ = std::move(*rings);
    base_args_.emplace_back("--rings-fd");
    base_args_.push_back(std::to_string(naive_rings_.fd()));
  }

  const InterruptHandlers interrupts;

  // What the transport's run needs around it, then its daemon, held until everyone else left.
  if (is_peer(o_.transport) && peers_->prepare != nullptr) {
    if (auto prepared = peers_->prepare(o_); !prepared) return stop(prepared.error().message());
  }
  Pipe daemon_hold;
  if (has_daemon(o_.transport)) {
    auto daemon = start_holder(std::string(to_string(o_.transport)) + " daemon", "daemon",
                               daemon_hold, "the transport's daemon did not start in time");
    if (!daemon) return stop(daemon.error().message());
    daemon_ = *daemon;
  }

  // The server first, listening before anyone connects.
  auto server = start("server", {"--role", "server"}, {});
  if (!server) return stop(server.error().message());
  server_ = *server;
  busy_.push_back(server_);
  if (!ps_.wait_ready(std::span(&server_, 1), tools::now_ns() + kServerStartNs)) {
    const Participant* f = ps_.failed();
    return stop(f != nullptr ? failure_text(*f) : "the server did not start listening in time");
  }

  // The idle connections, held by one process until `hold` closes.
  Pipe hold;
  if (o_.idle > 0) {
    auto idle = start_holder("idle connections", "idle", hold,
                             "the idle connections took too long to open");
    if (!idle) return stop(idle.error().message());
    idle_ = *idle;
  }

  // The clients connect, say ready, and block on `go` until it closes.
  Pipe go;
  if (!go.ok()) return stop("cannot create a pipe");
  for (std::uint32_t i = 0; i < o_.clients; ++i) {
    auto client =
        start("client " + std::to_string(i),
              {"--role", "client", "--id", std::to_string(i), "--go-fd", std::to_string(go.read)},
              {go.read});
    if (!client) return stop(client.error().message());
    clients_.push_back(*client);
    busy_.push_back(*client);
    ready_.push_back(*client);
  }
  if (o_.scenario == Scenario::fanout) {  // the clients subscribe; one publisher sends
    auto publisher =
        start("publisher", {"--role", "publisher", "--go-fd", std::to_string(go.read)}, {go.read});
    if (!publisher) return stop(publisher.error().message());
    busy_.push_back(*publisher);
    ready_.push_back(*publisher);
  }
  go.close_read();
  if (!ps_.wait_ready(ready_, tools::now_ns() + kConnectNs)) {
    const Participant* f = ps_.failed();
    return stop(f != nullptr ? failure_text(*f) : "the clients took too long to connect");
  }
  if (g_interrupted != 0) return stop("interrupted");

  Progress progress(o_);
  const std::int64_t start_ns = tools::now_ns();
  state_.set_go(start_ns);
  go.close_write();  // every client's read() returns: go
  const Timetable t = timetable(o_, start_ns);
  const std::int64_t deadline = t.end + kGraceNs + (t.end - t.go);
  while (!ps_.all_closed(busy_)) {
    ps_.pump(100);
    if (g_interrupted != 0) {
      progress.finish();
      return stop("interrupted");
    }
    if (const Participant* f = ps_.failed()) {
      progress.finish();
      return stop(failure_text(*f));
    }
    if (tools::now_ns() > deadline) {
      progress.finish();
      return stop("the run did not finish " + std::to_string(kGraceNs / kSecond) +
                  " s after its planned end; stopped it");
    }
    progress.update(tools::now_ns() - start_ns, state_.total());
  }
  progress.finish();

  release(hold, idle_);  // the idle connections may go now, then the daemon
  release(daemon_hold, daemon_);
  ps_.reap_all(10'000);
  if (const Participant* f = ps_.failed()) return complain(failure_text(*f));
  for (std::size_t i = 0; i < ps_.size(); ++i) {
    const Participant& p = ps_[i];
    if (!p.report)
      return complain(p.name + ": ended without a result (" + describe_status(p.status) + ")");
    if (p.status != 0) return complain(p.name + ": " + describe_status(p.status));
  }

  const Summary s = summarize();
  if (o_.json) {
    std::printf("%s\n", summary_json(s).c_str());
  } else {
    std::printf("%s", summary_text(s).c_str());
  }
  std::fflush(stdout);
  return s.errors > 0 ? 1 : 0;
}

Summary Run::summarize() const {
  Summary s;
  s.options = o_;
  s.has_latency = o_.request_reply() || o_.paced;
  for (std::size_t i = 0; i < ps_.size(); ++i) {
    const Participant& p = ps_[i];
    s.errors += p.report->errors.total();
    const double cpu =
        static_cast<double>(p.usage.ru_utime.tv_sec + p.usage.ru_stime.tv_sec) +
        static_cast<double>(p.usage.ru_utime.tv_usec + p.usage.ru_stime.tv_usec) / 1e6;
    s.cpu_s += cpu;
    s.peak_rss_kb = std::max(s.peak_rss_kb, p.usage.ru_maxrss);
    if (p.report->wakes) s.wakes = s.wakes.value_or(0) + *p.report->wakes;
  }
  if (o_.request_reply() || o_.scenario == Scenario::fanout) {
    // The clients measure round trips (fanout: deliveries); the run lasted as long as the
    // longest of them.
    for (std::size_t i : clients_) {
      const Report& r = *ps_[i].report;
      s.msgs += r.msgs;
      s.seconds = std::max(s.seconds, r.seconds);
      s.latency.merge(r.latency);
    }
  } else {
    const Report& r = *ps_[server_].report;
    s.msgs = r.msgs;
    s.seconds = r.seconds;
    s.latency = r.latency;
  }
  return s;
}

}  // namespace

int orchestrate(const Options& options, const std::vector<std::string>& self_command,
                const PeerTransports* peers) {
  Run run(options, self_command, peers);
  return run.go();
}

}  // namespace ferry::bench
