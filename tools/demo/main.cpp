// ferry-demo: many client processes talking through ferryd at once, checked and measured.
//
// The orchestrator (this file) forks the participants (participants.hpp): servers and
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
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "board.hpp"
#include "common/process.hpp"
#include "ferry/client.hpp"
#include "participants.hpp"
#include "payload.hpp"

namespace {

using ferry::demo::Board;
using ferry::demo::Errors;
using ferry::demo::Histogram;
using ferry::demo::Plan;
using ferry::demo::Role;
using ferry::demo::Shared;
using ferry::tools::now_ns;
using namespace std::chrono_literals;

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int signal) {
  if (g_signal == 0) g_signal = signal;  // the first one names the cause
}

constexpr const char* kUsage =
    "usage: ferry-demo [--seconds S] [--clients N] [--rate MSGS] [--size BYTES]\n"
    "                  [--session NAME] [--endpoint NAME]\n"
    "\n"
    "Runs N client processes through ferryd for S seconds: servers answering requesters\n"
    "(request/response) and publishers streaming to subscribers (publish/subscribe); every\n"
    "message is checked. Prints live progress on stderr, then a table; exit status 0 when\n"
    "nothing was lost, duplicated, reordered, corrupted or failed. ferryd must be running\n"
    "(scripts/demo.sh, or `make demo`, starts one). See docs/demo.md.\n"
    "\n"
    "  --seconds S      how long publishers and requesters run (10)\n"
    "  --clients N      participants, 4..1000 (32): 1/8 servers, 3/8 requesters,\n"
    "                   1/4 publishers, the rest subscribers\n"
    "  --rate MSGS      messages per second all publishers publish together (100000)\n"
    "  --size BYTES     payload of data messages and requests, a multiple of 8 (1024)\n"
    "  --session NAME   ferryd's session (default $FERRY_SESSION, else the login session)\n"
    "  --endpoint NAME  ferryd's endpoint (bus)\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "ferry-demo: %s (see ferry-demo --help)\n", what.c_str());
  std::exit(2);
}

double parse_number(std::string_view flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(v == v)) {
    usage_error(std::string(flag) + ": expected a number, got '" + text + "'");
  }
  return v;
}

Plan parse(int argc, char** argv) {
  Plan plan;
  double clients = 32;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
      arg = arg.substr(0, eq);
      has_value = true;
    }
    const auto next = [&]() -> const char* {
      if (has_value) return value.c_str();
      if (i + 1 >= argc) usage_error(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--seconds") {
      plan.seconds = parse_number(arg, next());
      if (plan.seconds <= 0 || plan.seconds > 3600)
        usage_error("--seconds: expected 0 < S <= 3600");
    } else if (arg == "--clients") {
      clients = parse_number(arg, next());
      if (clients < 4 || clients > 1000 || clients != static_cast<int>(clients)) {
        usage_error("--clients: expected a whole number 4..1000");
      }
    } else if (arg == "--rate") {
      plan.rate = parse_number(arg, next());
      if (plan.rate < 1 || plan.rate > 1e8) usage_error("--rate: expected 1..100000000");
    } else if (arg == "--size") {
      const double size = parse_number(arg, next());
      if (size < static_cast<double>(ferry::demo::kMinSize) || size > 65536 ||
          size != static_cast<double>(static_cast<std::size_t>(size)) ||
          static_cast<std::size_t>(size) % 8 != 0) {
        usage_error("--size: expected a multiple of 8 from 40 to 65536");
      }
      plan.size = static_cast<std::size_t>(size);
    } else if (arg == "--session") {
      plan.session = next();
    } else if (arg == "--endpoint") {
      plan.endpoint = next();
    } else if (arg == "--inject-error") {  // self-test (docs/demo.md): makes the demo fail
      plan.inject_error = true;
    } else {
      usage_error("unknown option '" + std::string(arg) + "'");
    }
  }
  const auto n = static_cast<std::uint32_t>(clients);
  plan.servers = std::max(1U, n / 8);
  plan.requesters = std::max(1U, n * 3 / 8);
  plan.publishers = std::max(1U, n / 4);
  plan.subscribers = n - plan.servers - plan.requesters - plan.publishers;
  return plan;
}

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "1 server", "4 servers".
std::string counted(std::uint64_t n, const char* what) {
  return grouped(n) + " " + what + (n == 1 ? "" : "s");
}

// Microseconds: one decimal below 1000, whole (and grouped) above.
std::string micros(double us) {
  if (us >= 1000) return grouped(static_cast<std::uint64_t>(std::llround(us)));
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", us);
  return text;
}

// The first few of `notes` (when everyone lost the connection, one line says it all).
void print_notes(std::FILE* to, const char* prefix, const std::vector<std::string>& notes) {
  constexpr std::size_t kShown = 4;
  for (std::size_t i = 0; i < notes.size() && i < kShown; ++i) {
    std::fprintf(to, "%s%s\n", prefix, notes[i].c_str());
  }
  if (notes.size() > kShown)
    std::fprintf(to, "%s... and %zu more\n", prefix, notes.size() - kShown);
}

struct Child {
  pid_t pid = -1;
  Role role = Role::server;
  std::uint32_t index = 0;
  bool running = false;
  int status = 0;
};

class Orchestrator {
 public:
  Orchestrator(const Plan& plan, Shared& shared) : plan_(plan), shared_(shared) {}

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

  // Prints the table (unless the run never started) and returns the exit status.
  int report(bool ran) const {
    Histogram pub_latency;
    Histogram rr_latency;
    Errors pub_errors;
    Errors rr_errors;
    std::uint64_t published = 0;
    // What went wrong, in the participants' words; else how they ended (when not well).
    // Those that stopped because another failed say nothing and are not listed.
    std::vector<std::string> causes;
    std::vector<std::string> exits;
    for (std::size_t i = 0; i < children_.size(); ++i) {
      const Child& c = children_[i];
      const ferry::demo::Slot& s = shared_.slot(i);
      if (c.role == Role::subscriber) {
        pub_latency.merge(s.latency);
        pub_errors.add(s.errors);
      } else if (c.role == Role::requester) {
        rr_latency.merge(s.latency);
        rr_errors.add(s.errors);
      } else if (c.role == Role::publisher) {
        published += s.count.load(std::memory_order_relaxed);
      }
      if (s.failure[0] != '\0') causes.emplace_back(s.failure);
      if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
        std::string what = std::string(ferry::demo::role_name(c.role)) + " " +
                           std::to_string(c.index) + " (pid " + std::to_string(c.pid) + ") ";
        if (WIFSIGNALED(c.status)) {
          what += std::string("was killed by signal ") + std::to_string(WTERMSIG(c.status)) + " (" +
                  strsignal(WTERMSIG(c.status)) + ")";
        } else {
          what += "exited with status " + std::to_string(WEXITSTATUS(c.status));
        }
        exits.push_back(what);
      }
    }
    const std::vector<std::string>& notes = causes.empty() ? exits : causes;
    if (!ran) {
      print_notes(stderr, "ferry-demo: ", notes);
      std::fprintf(stderr, "ferry-demo: FAILED: the participants could not all start\n");
      return 1;
    }
    const std::uint64_t delivered = sum(Role::subscriber);
    const std::uint64_t answered = sum(Role::requester);
    // Rates over the time the messages took: from the start to the last one received
    // (after the end when subscribers lagged), never less than --seconds.
    const std::int64_t go = board().go_ns.load(std::memory_order_acquire);
    const auto rate = [&](std::uint64_t n, Role role) {
      std::int64_t last = 0;
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (children_[i].role == role) last = std::max(last, shared_.slot(i).last_ns);
      }
      const double seconds = std::max(plan_.seconds, static_cast<double>(last - go) / 1e9);
      return grouped(static_cast<std::uint64_t>(static_cast<double>(n) / seconds));
    };
    // "µs" is two bytes and one column: its fields are one byte wider.
    std::printf("\n%-20s %12s %11s %10s %10s %8s\n", "", "messages", "msgs/s", "p50 µs", "p99 µs",
                "errors");
    std::printf("%-20s %12s %11s %9s %9s %8s\n", "publish/subscribe", grouped(delivered).c_str(),
                rate(delivered, Role::subscriber).c_str(),
                micros(pub_latency.quantile_us(0.5)).c_str(),
                micros(pub_latency.quantile_us(0.99)).c_str(), grouped(pub_errors.total()).c_str());
    std::printf("%-20s %12s %11s %9s %9s %8s\n", "request/response", grouped(answered).c_str(),
                rate(answered, Role::requester).c_str(),
                micros(rr_latency.quantile_us(0.5)).c_str(),
                micros(rr_latency.quantile_us(0.99)).c_str(), grouped(rr_errors.total()).c_str());
    std::printf("\n  publish/subscribe: %s published by %s, each delivered to all %s;\n",
                counted(published, "message").c_str(),
                counted(plan_.publishers, "publisher").c_str(),
                counted(plan_.subscribers, "subscriber").c_str());
    std::printf("    latency: one way, from the publisher's send to the subscriber's handler.\n");
    std::printf("  request/response: %s, one request at a time, answered by %s;\n",
                counted(plan_.requesters, "requester").c_str(),
                counted(plan_.servers, "server").c_str());
    std::printf("    latency: the round trip, from the request's send to its reply in hand.\n");
    Errors all = pub_errors;
    all.add(rr_errors);
    std::printf("  errors: %s lost, %s duplicated, %s reordered, %s corrupt, %s failed requests\n",
                grouped(all.lost).c_str(), grouped(all.duplicated).c_str(),
                grouped(all.reordered).c_str(), grouped(all.corrupt).c_str(),
                grouped(all.failed).c_str());
    print_notes(stdout, "  problem: ", notes);
    const bool ok = all.total() == 0 && notes.empty() && (delivered > 0 || published == 0);
    if (ok) {
      std::printf(
          "\nferry-demo: OK: every message arrived once, in order and intact; every "
          "request was answered correctly\n");
    } else {
      std::printf(
          "\nferry-demo: FAILED: %s errors%s%s\n", grouped(all.total()).c_str(),
          notes.empty() ? "" : ", problems above",
          plan_.inject_error ? " (--inject-error: publisher 0 skipped a message, as asked)" : "");
    }
    std::fflush(stdout);
    return ok ? 0 : 1;
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
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (children_[i].role == role) n += shared_.slot(i).count.load(std::memory_order_relaxed);
    }
    return n;
  }

  const Plan& plan_;
  Shared& shared_;
  std::vector<Child> children_;
  bool tty_ = false;
  bool printed_ = false;
  std::int64_t last_at_ = 0;
  std::uint64_t last_total_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Plan plan = parse(argc, argv);

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

  Shared shared = Shared::create(plan.participants());
  if (!shared) {
    std::fprintf(stderr, "ferry-demo: cannot map the shared region: %s\n", std::strerror(errno));
    return 1;
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
    (void)o.report(started);
    return 1;
  }
  return o.report(true);
}
