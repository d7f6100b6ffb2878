// SPDX-License-Identifier: Apache-2.0
// ferry-demo: many client processes talking through ferryd at once, checked and measured.
//
// A front end over `ferry bench`'s bus roles (bench/workload): every participant is this
// program again (`ferry-demo --participant` and the bench's role arguments), one
// ferry::Client of ferryd's bus: servers (the bench's responders) answering requesters,
// publishers streaming to subscribers. This file starts them, releases them together once
// all are connected, shows a live progress line on stderr and prints the table of what
// happened (report.cpp; docs/demo.md); options.cpp is the command line. Exit status: 0 when
// every message arrived once, in order and intact and every request was answered
// correctly; 1 otherwise; 2 usage; 3 cannot connect to ferryd; 128 + the signal when
// interrupted (SIGINT, SIGTERM, SIGHUP), after stopping everyone.
//
//   ferry-demo [--seconds 10] [--clients 32] [--rate 100000] [--size 1024]
//              [--session NAME] [--endpoint NAME]
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "ferry/client.hpp"
#include "options.hpp"
#include "report.hpp"
#include "workload/bench.hpp"
#include "workload/options.hpp"
#include "workload/participants.hpp"
#include "workload/shared_state.hpp"

namespace {

using ferry::demo::Cast;
using ferry::demo::counted;
using ferry::demo::grouped;
using ferry::demo::Plan;
using ferry::tools::now_ns;

// The first argument of a participant: what follows is `ferry bench`'s role arguments.
constexpr std::string_view kParticipant = "--participant";
constexpr std::int64_t kSecond = 1'000'000'000;

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int signal) {
  if (g_signal == 0) g_signal = signal;  // the first one names the cause
}

// The bench's workload for the plan: the bus scenario, over ferry, waiting the default way
// (spin briefly, then sleep: with 33 processes on a few cores nobody may spin for long).
ferry::bench::Options workload(const Plan& plan) {
  ferry::bench::Options o;
  o.scenario = ferry::bench::Scenario::bus;
  o.transport = ferry::bench::Transport::ferry;
  o.size = plan.size;
  o.clients = plan.requesters;
  o.publishers = plan.publishers;
  o.rate = plan.rate;
  o.paced = true;
  o.wait = ferry::WaitStrategy::hybrid;
  o.seconds = plan.seconds;
  o.inject_error = plan.inject_error;
  return o;
}

class Orchestrator {
 public:
  explicit Orchestrator(const Plan& plan) : plan_(plan) {}

  const ferry::bench::Participants& participants() const noexcept { return ps_; }
  const Cast& cast() const noexcept { return cast_; }

  // Starts every participant; false when one could not be started.
  bool start() {
    auto state = ferry::bench::SharedState::create(plan_.requesters + plan_.subscribers + 1);
    if (!state) return problem("cannot map the shared state: " + state.error().message());
    state_ = std::move(*state);
    if (!go_.ok() || !hold_.ok()) return problem("cannot create a pipe");
    std::vector<std::string> base = ferry::bench::workload_arguments(workload(plan_));
    base.insert(base.end(),
                {"--endpoint", plan_.endpoint, "--state-fd", std::to_string(state_.fd())});
    if (!plan_.session.empty()) base.insert(base.end(), {"--session", plan_.session});
    // Progress slots: requester i counts in 1 + i, subscriber j in 1 + requesters + j.
    const struct {
      const char* role;
      const char* name;
      std::uint32_t count;
      std::uint32_t first_id;
      const Pipe& pipe;
      std::vector<std::size_t>& members;
    } parts[] = {
        {"responder", "server", plan_.servers, 0, hold_, cast_.servers},
        {"requester", "requester", plan_.requesters, 0, go_, cast_.requesters},
        {"publisher", "publisher", plan_.publishers, 0, go_, cast_.publishers},
        {"subscriber", "subscriber", plan_.subscribers, plan_.requesters, go_, cast_.subscribers},
    };
    std::fflush(stdout);
    std::fflush(stderr);
    for (const auto& part : parts) {
      for (std::uint32_t i = 0; i < part.count; ++i) {
        std::vector<std::string> args = base;
        args.insert(args.end(), {"--role", part.role, "--id", std::to_string(part.first_id + i),
                                 "--go-fd", std::to_string(part.pipe.read)});
        const int keep[] = {state_.fd(), part.pipe.read};
        auto started =
            ps_.start(std::string(part.name) + " " + std::to_string(i),
                      {"/proc/self/exe", std::string(kParticipant)}, std::move(args), keep);
        if (!started) return problem(started.error().message());
        part.members.push_back(*started);
        all_.push_back(*started);
        if (&part.pipe == &go_) busy_.push_back(*started);
      }
    }
    go_.close_read();
    hold_.close_read();
    return true;
  }

  // Waits for every participant to be connected (and subscribed or serving), then starts
  // the run. False when one failed, a signal came, or it took too long.
  bool go() {
    const std::int64_t deadline = now_ns() + 30 * kSecond;
    while (!ps_.wait_ready(all_, std::min(deadline, now_ns() + kSecond / 10))) {
      if (g_signal != 0 || ps_.failed() != nullptr) return false;
      if (now_ns() > deadline) return problem("participants not ready after 30 s");
    }
    const std::int64_t go = now_ns();
    end_ = go + static_cast<std::int64_t>(plan_.seconds * 1e9);
    state_.set_go(go);
    go_.close_write();  // every waiting participant's read() returns: go
    return true;
  }

  // Runs until every participant has ended, showing progress. False when interrupted, one
  // failed or something hung.
  bool watch() {
    tty_ = ::isatty(STDERR_FILENO) != 0;
    const std::int64_t hard_deadline = end_ + 40 * kSecond;  // drain (15 s) and more
    const std::int64_t every = tty_ ? kSecond / 5 : kSecond;
    const std::int64_t go = state_.go();
    std::int64_t next_line = go + every;
    for (;;) {
      if (ps_.all_closed(busy_)) hold_.close_write();  // the servers may go now
      if (ps_.all_closed(all_)) break;
      ps_.pump(10);
      if (g_signal != 0 || ps_.failed() != nullptr) break;
      const std::int64_t now = now_ns();
      if (now > hard_deadline) {
        end_progress();
        return problem("participants still running 40 s after the end");
      }
      if (now >= next_line) {
        progress(now, false);
        next_line = now + every;
      }
    }
    if (g_signal != 0 || ps_.failed() != nullptr) {
      end_progress();
      return false;
    }
    progress(now_ns(), true);
    end_progress();
    ps_.reap_all(10'000);
    for (std::size_t i : all_) {
      const ferry::bench::Participant& p = ps_[i];
      if (p.status != 0) return problem(p.name + " " + ferry::bench::describe_status(p.status));
    }
    return true;
  }

  // What went wrong: the orchestrator's own problems, else what the participants said. Call
  // before stop_all(): those it stops are the consequence, not the cause.
  std::vector<std::string> problems() const {
    std::vector<std::string> all = problems_;
    for (std::size_t i : all_) {
      if (!ps_[i].error.empty()) all.push_back(ps_[i].name + ": " + ps_[i].error);
    }
    return all;
  }

  // Stops every participant still running and reaps them (SIGKILL after 2 s).
  void stop_all() {
    ps_.signal_all(SIGTERM);
    ps_.reap_all(2000);
  }

 private:
  bool problem(std::string what) {
    problems_.push_back(std::move(what));
    return false;
  }

  // One progress line: elapsed time, messages so far (pub/sub deliveries and request/
  // response round trips), and the rate since the previous line (the last line: over the
  // whole run). In place on a terminal (short enough for 80 columns), else a line a second.
  void progress(std::int64_t now, bool last) {
    const std::int64_t go = state_.go();
    const std::uint64_t total = state_.total();
    const std::int64_t since = last_at_ == 0 ? go : last_at_;
    const double dt = static_cast<double>(now - since) / 1e9;
    double rate = dt > 0 ? static_cast<double>(total - last_total_) / dt : 0;
    if (last) rate = static_cast<double>(total) / plan_.seconds;
    last_total_ = total;
    last_at_ = now;
    const double elapsed = static_cast<double>(std::min(now, end_) - go) / 1e9;
    std::fprintf(stderr, "%sferry-demo: %5.1f s of %g s  %13s messages  %11s msgs/s%s%s",
                 tty_ ? "\r\033[K" : "", elapsed, plan_.seconds, grouped(total).c_str(),
                 grouped(static_cast<std::uint64_t>(rate)).c_str(),
                 now > end_ && !last ? "  draining" : "", tty_ ? "" : "\n");
    std::fflush(stderr);
    printed_ = true;
  }
  void end_progress() {
    if (printed_ && tty_) std::fputc('\n', stderr);
    printed_ = false;
  }

  using Pipe = ferry::bench::Pipe;
  const Plan& plan_;
  ferry::bench::SharedState state_;
  ferry::bench::Participants ps_;
  Cast cast_;
  std::vector<std::size_t> all_;
  std::vector<std::size_t> busy_;  // all but the servers
  Pipe go_;                        // closed: go
  Pipe hold_;                      // closed: the servers stop
  std::vector<std::string> problems_;
  std::int64_t end_ = 0;
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

  Orchestrator o(plan);
  const bool started = o.start() && o.go();
  const bool finished = started && o.watch();
  if (!finished) {
    const int sig = g_signal;
    const std::vector<std::string> problems = o.problems();
    o.stop_all();
    if (sig != 0) {
      std::fprintf(stderr, "ferry-demo: interrupted (%s): stopped all %u participants\n",
                   strsignal(sig), plan.participants());
      return 128 + sig;
    }
    (void)ferry::demo::print_report(plan, o.participants(), o.cast(), problems, started);
    return 1;
  }
  return ferry::demo::print_report(plan, o.participants(), o.cast(), o.problems(), true);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1 && argv[1] == kParticipant) {
      return ferry::bench::run_bench(std::vector<std::string>(argv + 2, argv + argc), {});
    }
    return run(argc, argv);
  } catch (const std::exception& e) {  // out of memory, in practice
    std::fprintf(stderr, "ferry-demo: %s\n", e.what());
    return 1;
  }
}
