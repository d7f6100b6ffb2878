// ferry-demo: many client processes talking through ferryd at once, checked and measured.
//
// The orchestrator (this file; the command line in options.cpp, the table in report.cpp)
// forks the participants (participants.hpp): servers and
// requesters doing request/response, publishers and subscribers doing publish/subscribe,
// every one a ferry::Client of ferryd's bus. It starts them together once all are
// connected, shows a live progress line on stderr, and prints a table of what happened
// (docs/demo.md). Exit status: 0 when every message arrived once, in order and intact and
// every request was answered correctly; 1 otherwise; 2 usage; 3 cannot connect to ferryd;
// 128 + the signal when interrupted (SIGINT, SIGTERM, SIGHUP), after stopping everyone.
//
//   ferry-demo [--seconds 10] [--clients 32] [--rate 100000] [--size 1024]
//              [--session NAME] [--endpoint NAME]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "board.hpp"
#include "common/process.hpp"
#include "ferry/client.hpp"
#include "options.hpp"
#include "participants.hpp"
#include "payload.hpp"
#include "report.hpp"

namespace {

using ferry::demo::Board;
using ferry::demo::Child;
using ferry::demo::counted;
using ferry::demo::grouped;
using ferry::demo::Plan;
using ferry::demo::Role;
using ferry::demo::Shared;
using ferry::tools::now_ns;
using namespace std::chrono_literals;

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int signal) {
  if (g_signal == 0) g_signal = signal;  // the first one names the cause
}

class Orchestrator {
 public:
  Orchestrator(const Plan& plan, Shared& shared) : plan_(plan), shared_(shared) {}

  const std::vector<Child>& children() const noexcept { return children_; }

  // Forks every participant; false (with everyone stopped) when a fork failed.
  bool start() {
    const std::pair<Role, std::uint32_t> roles[] = {{Role::server, plan_.servers},
                                                    {Role::requester, plan_.requesters},
                                                    {Role::publisher, plan_.publishers},
                                                    {Role::subscriber, plan_.subscribers}};
    std::fflush(stdout);
    std::fflush(stderr);
    for (const auto& [role_of, n] : roles) {
      const Role role = role_of;  // a lambda may not capture a structured binding (clang)
      for (std::uint32_t i = 0; i < n; ++i) {
        const std::size_t slot = children_.size();
        // Dies with the orchestrator, whatever kills it; SIGINT/SIGTERM kill it too.
        const pid_t pid = ferry::tools::fork_child([&] {
          std::signal(SIGINT, SIG_DFL);
          std::signal(SIGTERM, SIG_DFL);
          std::signal(SIGHUP, SIG_DFL);
          return ferry::demo::run_participant(role, i, slot, plan_, shared_);
        });
        if (pid < 0) {
          std::fprintf(stderr, "ferry-demo: fork: %s\n", std::strerror(errno));
          stop_all(SIGKILL);
          return false;
        }
        children_.push_back(Child{pid, role, i, true, 0});
      }
    }
    return true;
  }

  // Waits for every participant to be connected (and subscribed or serving), then starts
  // the run. False when one failed, a signal came, or it took too long.
  bool go() {
    const std::int64_t deadline = now_ns() + 30'000'000'000;
    while (board().ready.load(std::memory_order_acquire) < children_.size()) {
      reap();
      if (g_signal != 0 || failed_early() || now_ns() > deadline) {
        if (g_signal == 0 && !failed_early()) {
          std::fprintf(stderr, "ferry-demo: participants not ready after 30 s\n");
        }
        return false;
      }
      std::this_thread::sleep_for(2ms);
    }
    const std::int64_t go = now_ns() + 20'000'000;
    board().end_ns.store(go + static_cast<std::int64_t>(plan_.seconds * 1e9),
                         std::memory_order_release);
    board().go_ns.store(go, std::memory_order_release);
    return true;
  }

  // Runs until every participant has exited, showing progress. False when interrupted or
  // something hung (everyone is stopped then).
  bool watch() {
    tty_ = ::isatty(STDERR_FILENO) != 0;
    const std::int64_t end = board().end_ns.load(std::memory_order_acquire);
    const std::int64_t hard_deadline = end + 40'000'000'000;  // drain (15 s) and more
    const std::int64_t every = tty_ ? 200'000'000 : 1'000'000'000;
    std::int64_t next_line = board().go_ns.load(std::memory_order_acquire) + every;
    while (running() > 0) {
      std::this_thread::sleep_for(10ms);
      reap();
      if (g_signal != 0) {
        end_progress();
        return false;
      }
      if (running_besides_servers() == 0) board().stop_servers.store(1);
      const std::int64_t now = now_ns();
      if (now > hard_deadline) {
        end_progress();
        std::fprintf(stderr, "ferry-demo: %zu participants still running 40 s after the end\n",
                     running());
        return false;
      }
      if (now >= next_line) {
        progress(now);
        next_line = now + every;
      }
    }
    progress(now_ns(), true);
    end_progress();
    return true;
  }

  // Sends `signal` to every participant still running and reaps them (SIGKILL after 2 s).
  void stop_all(int signal) {
    for (const Child& c : children_) {
      if (c.running) ::kill(c.pid, signal);
    }
    const std::int64_t deadline = now_ns() + 2'000'000'000;
    while (running() > 0) {
      reap();
      if (running() == 0) break;
      if (now_ns() > deadline) {
        for (const Child& c : children_) {
          if (c.running) ::kill(c.pid, SIGKILL);
        }
        while (running() > 0) reap(true);
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  Board& board() const noexcept { return shared_.board(); }

  // One progress line: elapsed time, messages so far (pub/sub deliveries and request/
  // response round trips), and the rate since the previous line (the last line: over the
  // whole run). In place on a terminal (short enough for 80 columns), else a line a second.
  void progress(std::int64_t now, bool last = false) {
    const std::int64_t go = board().go_ns.load(std::memory_order_acquire);
    const std::int64_t end = board().end_ns.load(std::memory_order_acquire);
    const std::uint64_t total = sum(Role::subscriber) + sum(Role::requester);
    const std::int64_t since = last_at_ == 0 ? go : last_at_;
    const double dt = static_cast<double>(now - since) / 1e9;
    double rate = dt > 0 ? static_cast<double>(total - last_total_) / dt : 0;
    if (last) rate = static_cast<double>(total) / plan_.seconds;
    last_total_ = total;
    last_at_ = now;
    const double elapsed = static_cast<double>(std::min(now, end) - go) / 1e9;
    std::fprintf(stderr, "%sferry-demo: %5.1f s of %g s  %13s messages  %11s msgs/s%s%s",
                 tty_ ? "\r\033[K" : "", elapsed, plan_.seconds, grouped(total).c_str(),
                 grouped(static_cast<std::uint64_t>(rate)).c_str(),
                 now > end && running() > 0 ? "  draining" : "", tty_ ? "" : "\n");
    std::fflush(stderr);
    printed_ = true;
  }
  void end_progress() {
    if (printed_ && tty_) std::fputc('\n', stderr);
    printed_ = false;
  }

  void reap(bool block = false) {
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, block ? 0 : WNOHANG);
      if (pid <= 0) return;
      for (Child& c : children_) {
        if (c.pid == pid) {
          c.running = false;
          c.status = status;
        }
      }
      if (block) return;
    }
  }

  std::size_t running() const noexcept {
    return static_cast<std::size_t>(std::count_if(children_.begin(), children_.end(),
                                                  [](const Child& c) { return c.running; }));
  }
  std::size_t running_besides_servers() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(children_.begin(), children_.end(),
                      [](const Child& c) { return c.running && c.role != Role::server; }));
  }
  bool failed_early() const noexcept {
    return std::any_of(children_.begin(), children_.end(),
                       [](const Child& c) { return !c.running; });
  }
  std::uint64_t sum(Role role) const noexcept {
    return ferry::demo::sum_counts(shared_, children_, role);
  }

  const Plan& plan_;
  Shared& shared_;
  std::vector<Child> children_;
  bool tty_ = false;
  bool printed_ = false;
  std::int64_t last_at_ = 0;
  std::uint64_t last_total_ = 0;
};

int run(int argc, char** argv) {
  const Plan plan = ferry::demo::parse_options(argc, argv);

  // One connection first: a clear message when ferryd is not there, and its socket's name.
  std::string socket;
  {
    ferry::ClientOptions options;
    options.endpoint = plan.endpoint;
    options.session = plan.session;
    options.name = "ferry-demo";
    auto probe = ferry::Client::connect(options);
    if (!probe) {
      std::fprintf(stderr, "ferry-demo: cannot connect: %s\n", probe.error().message().c_str());
      return 3;
    }
    socket = probe->socket_path();
  }

  auto created = Shared::create(plan.participants());
  if (!created) {
    std::fprintf(stderr, "ferry-demo: cannot map the shared region: %s\n",
                 created.error().message().c_str());
    return 1;
  }
  Shared& shared = *created;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  std::printf("ferry-demo: %u client processes through ferryd at %s for %g s:\n",
              plan.participants(), socket.c_str(), plan.seconds);
  std::printf("  request/response:  %s, one %zu-byte request at a time, answered by %s\n",
              counted(plan.requesters, "requester").c_str(), plan.size,
              counted(plan.servers, "server").c_str());
  std::printf("  publish/subscribe: %s, %s msgs/s of %zu bytes in total, each to all %s\n",
              counted(plan.publishers, "publisher").c_str(),
              grouped(static_cast<std::uint64_t>(plan.rate)).c_str(), plan.size,
              counted(plan.subscribers, "subscriber").c_str());
  std::fflush(stdout);

  Orchestrator o(plan, shared);
  if (!o.start()) return 1;
  const bool started = o.go();
  const bool finished = started && o.watch();
  if (!finished) {
    const int sig = g_signal;
    o.stop_all(SIGTERM);
    if (sig != 0) {
      std::fprintf(stderr, "ferry-demo: interrupted (%s): stopped all %u participants\n",
                   strsignal(sig), plan.participants());
      return 128 + sig;
    }
    (void)ferry::demo::print_report(plan, shared, o.children(), started);
    return 1;
  }
  return ferry::demo::print_report(plan, shared, o.children(), true);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // out of memory, in practice
    std::fprintf(stderr, "ferry-demo: %s\n", e.what());
    return 1;
  }
}
