// SPDX-License-Identifier: Apache-2.0
// ferryd's Prometheus metrics: `ferry exporter` as a child process (metrics.hpp).
#include "ferryd/metrics.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/process.hpp"
#include "ferryd/published.hpp"

extern char** environ;  // NOLINT: the environment the exporter inherits

namespace ferry::ferryd {

using tools::LogLevel;
using Clock = std::chrono::steady_clock;

void publish_daemon_counters(ferry::Server& server, const DaemonCounters& counters) {
  // Fails only when the application took every slot; ferryd's own bus takes 14 of 32.
  if (auto stale = server.publish_metric(kStaleRemoved.series)) {
    (*stale)->store(counters.stale_removed.load(std::memory_order_relaxed),
                    std::memory_order_relaxed);
  }
}

namespace {

// How long the exporter may take to start listening (it loads prometheus-cpp's libraries).
constexpr std::chrono::seconds kStartTimeout{10};
// How long it may take to stop before it is killed.
constexpr std::chrono::seconds kStopTimeout{1};
// Restarts: the pause doubles from 1 s to 60 s while it keeps dying within a minute.
constexpr std::chrono::milliseconds kFirstPause{1000};
constexpr std::chrono::milliseconds kLongestPause{60000};
constexpr std::chrono::seconds kStableRun{60};
// Most of its output kept (its last words are what matter).
constexpr std::size_t kMaxSaid = 4096;

constexpr std::string_view kListening = "serving metrics at ";

// Set by SIGCHLD: the exporter (ferryd's only child) may have ended.
volatile std::sig_atomic_t g_child_changed = 0;

extern "C" void on_child(int /*signal*/) {
  g_child_changed = 1;
}

// The exporter's messages without its "ferry: exporter: " prefixes, lines joined.
std::string last_words(std::string_view said) {
  std::string out;
  while (!said.empty()) {
    const std::size_t end = said.find('\n');
    std::string_view line = said.substr(0, end);
    said = end == std::string_view::npos ? std::string_view() : said.substr(end + 1);
    for (const std::string_view prefix : {"ferry: ", "exporter: "}) {
      if (line.starts_with(prefix)) line.remove_prefix(prefix.size());
    }
    if (line.empty() || line.starts_with(kListening)) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

bool reaped(pid_t pid, int* status) {
  pid_t done = 0;
  do {
    done = ::waitpid(pid, status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  return done == pid;
}

}  // namespace

Metrics::Metrics(tools::Log& log, std::string endpoint, std::string exporter)
    : log_(log), endpoint_(std::move(endpoint)), exporter_(std::move(exporter)) {}

ferry::Result<std::unique_ptr<Metrics>> Metrics::start(const std::string& listen, tools::Log& log,
                                                       const std::string& endpoint) {
#ifndef FERRYD_METRICS
  (void)listen;
  (void)log;
  (void)endpoint;
  return ferry::Error(ferry::Errc::invalid_argument,
                      "this ferryd was built without metrics (FERRY_METRICS=OFF); rebuild "
                      "with -DFERRY_METRICS=ON, or remove metrics_listen");
#else
  // The ferry command installed with ferryd (the same bin directory, a build tree's too).
  const std::string exporter = tools::executable_directory() + "/ferry";
  if (::access(exporter.c_str(), X_OK) != 0) {
    return ferry::Error(ferry::Errc::not_found,
                        "metrics: ferryd runs `ferry exporter` for them, and there is no ferry "
                        "command next to it (" +
                            exporter + ": " + std::strerror(errno) + ")");
  }
  struct sigaction sa {};
  sa.sa_handler = on_child;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  ::sigaction(SIGCHLD, &sa, nullptr);

  auto m = std::unique_ptr<Metrics>(new Metrics(log, endpoint, exporter));
  m->listen_ = listen;
  if (auto spawned = m->spawn(); !spawned) return spawned.error();
  const auto deadline = Clock::now() + kStartTimeout;
  while (!m->read_output()) {
    int status = 0;
    if (reaped(m->pid_, &status)) {
      m->pid_ = 0;
      (void)m->read_output();  // what it wrote before it ended
      const std::string words = last_words(m->said_);
      return ferry::Error(
          ferry::Errc::system,
          "metrics: " + (words.empty() ? "`" + m->exporter_ + " exporter` " +
                                             tools::describe_status(status) + " before it listened"
                                       : words));
    }
    if (Clock::now() > deadline) {
      return ferry::Error(ferry::Errc::timed_out,
                          "metrics: the exporter did not listen within " +
                              std::to_string(kStartTimeout.count()) + " s" +
                              (m->said_.empty() ? "" : ": " + last_words(m->said_)));
    }
    pollfd pfd{m->output_.get(), POLLIN, 0};
    (void)::poll(&pfd, 1, 50);
  }
  // Restarts use the port the system chose for port 0.
  m->listen_ = listen.substr(0, listen.rfind(':')) + ":" + std::to_string(m->port_);
  m->log_listening(false);
  return m;
#endif
}

Metrics::~Metrics() {
  if (pid_ <= 0) return;
  const auto asked = Clock::now();
  ::kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = asked + kStopTimeout;
  bool killed = false;
  while (!reaped(pid_, &status)) {
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      killed = true;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked).count();
  log_.write(LogLevel::info, "metrics", "exporter_stopped",
             "the exporter stopped in " + std::to_string(took) + " ms" +
                 (killed ? " (killed: it did not stop within " +
                               std::to_string(kStopTimeout.count()) + " s of SIGTERM)"
                         : ""),
             {{"endpoint", endpoint_},
              {"ms", static_cast<std::int64_t>(took)},
              {"how", killed ? "killed" : "exited"}});
}

ferry::Result<void> Metrics::spawn() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return ferry::Error::from_errno(errno, "metrics: a pipe for the exporter");
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  // Non-blocking both ways: the exporter never waits for ferryd to read what it writes (a
  // message beyond the pipe's room is lost), nor ferryd for it.
  (void)::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  (void)::fcntl(write_end.get(), F_SETFL, O_NONBLOCK);

  const std::string self = std::to_string(::getpid());
  std::vector<std::string> args = {exporter_, "exporter", "--listen", listen_,
                                   "--pid",   self,       "--parent", self};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Its environment is ferryd's without NOTIFY_SOCKET: systemd hears from ferryd alone.
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawnattr_init(&attr);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
  // Nothing else of ferryd's (its sockets and segments are close-on-exec already).
  ::posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
  // ferryd ignores SIGPIPE, and an ignored signal stays ignored across exec: not for it.
  sigset_t none;
  sigset_t defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGCHLD);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setsigdefault(&attr, &defaults);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exporter_.c_str(), &actions, &attr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return ferry::Error::from_errno(rc, "metrics: starting " + exporter_ + " exporter");
  }
  pid_ = pid;
  output_ = std::move(read_end);
  said_.clear();
  started_ = Clock::now();
  return {};
}

bool Metrics::read_output() {
  std::array<char, 1024> buffer{};
  for (;;) {
    const ssize_t n = output_ ? ::read(output_.get(), buffer.data(), buffer.size()) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    said_.append(buffer.data(), static_cast<std::size_t>(n));
    if (said_.size() > kMaxSaid) said_.erase(0, said_.size() - kMaxSaid);
  }
  // "serving metrics at http://HOST:PORT/metrics (module PATH)\n"
  const std::size_t at = said_.find(kListening);
  if (at == std::string::npos) return false;
  const std::size_t end = said_.find('\n', at);
  if (end == std::string::npos) return false;
  const std::string line = said_.substr(at + kListening.size(), end - at - kListening.size());
  url_ = line.substr(0, line.find(' '));
  const std::size_t colon = url_.rfind(':');
  port_ = 0;
  if (colon != std::string::npos) {
    (void)std::from_chars(url_.data() + colon + 1, url_.data() + url_.size(), port_);
  }
  const std::size_t module = line.find("(module ");
  module_ = module == std::string::npos ? std::string()
                                        : line.substr(module + 8, line.size() - module - 9);
  said_.erase(0, end + 1);
  return true;
}

void Metrics::log_listening(bool restarted) {
  log_.write(LogLevel::info, "metrics", "metrics_listening",
             std::string(restarted ? "serving metrics again at " : "serving metrics at ") + url_ +
                 " (ferry exporter, pid " + std::to_string(pid_) + ")",
             {{"endpoint", endpoint_},
              {"url", url_},
              {"port", std::int64_t{port_}},
              {"exporter", exporter_},
              {"exporter_pid", std::int64_t{pid_}},
              {"module", module_}});
}

void Metrics::exited(int status) {
  (void)read_output();
  const std::string words = last_words(said_);
  const auto now = Clock::now();
  // A run of a minute or more starts the pauses over.
  pause_ = now - started_ >= kStableRun ? kFirstPause : pause_;
  restart_at_ = now + pause_;
  log_.write(LogLevel::warn, "metrics", "exporter_exited",
             "the metrics exporter (pid " + std::to_string(pid_) + ") " +
                 tools::describe_status(status) + (words.empty() ? "" : ": " + words) +
                 "; starting it again in " + std::to_string(pause_.count()) + " ms",
             {{"endpoint", endpoint_},
              {"exporter_pid", std::int64_t{pid_}},
              {"restart_in_ms", std::int64_t{pause_.count()}}});
  pause_ = std::min(pause_ * 2, kLongestPause);
  pid_ = 0;
  output_.reset();
  state_ = State::waiting;
}

void Metrics::tend() {
  if (g_child_changed == 0 && state_ == State::running) return;
  g_child_changed = 0;
  if (state_ != State::waiting) {
    int status = 0;
    if (reaped(pid_, &status)) {
      exited(status);
      return;
    }
    if (state_ == State::starting) {
      if (read_output()) {
        state_ = State::running;
        log_listening(true);
      } else if (Clock::now() - started_ > kStartTimeout) {
        ::kill(pid_, SIGKILL);  // hung: its end comes through SIGCHLD
      }
    }
    return;
  }
  if (Clock::now() < restart_at_) return;
  if (auto spawned = spawn(); !spawned) {
    restart_at_ = Clock::now() + pause_;
    log_.write(
        LogLevel::warn, "metrics", "exporter_failed",
        spawned.error().message() + "; trying again in " + std::to_string(pause_.count()) + " ms",
        {{"endpoint", endpoint_}});
    pause_ = std::min(pause_ * 2, kLongestPause);
    return;
  }
  state_ = State::starting;
}

}  // namespace ferry::ferryd
