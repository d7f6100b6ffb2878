// SPDX-License-Identifier: Apache-2.0
// ferryd_process.hpp: the real ferryd binary (FERRYD_PATH, set by CMake) started for a
// test and stopped with it, ready when it says so over sd_notify (NotifySocket); its JSON
// log read back (log_events); plus what /proc says about a process's descriptors and memory.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/process.hpp"
#include "ferry/session.hpp"

extern char** environ;  // the environment ferryd inherits, with its own NOTIFY_SOCKET

namespace ferry::test {

// The test's end of a NOTIFY_SOCKET (sd_notify(3)): an AF_UNIX datagram socket a service
// sends "READY=1", "STOPPING=1", ... to. `address` is a path, or "@name" for an abstract
// socket (no file).
class NotifySocket {
 public:
  explicit NotifySocket(std::string address) : address_(std::move(address)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (fd_ < 0 || address_.empty() || address_.size() >= sizeof addr.sun_path) return;
    std::memcpy(addr.sun_path, address_.data(), address_.size());
    auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (address_.front() == '@') {
      addr.sun_path[0] = '\0';  // abstract: a leading NUL and no terminating one
    } else {
      ++length;
    }
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), length) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    if (bound_ && address_.front() != '@') ::unlink(address_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // A fresh abstract address for this process.
  static std::string unique_address() {
    static std::atomic<unsigned> next{0};
    return "@ferry-test-notify-" + std::to_string(::getpid()) + "-" + std::to_string(next++);
  }

  bool ok() const { return bound_; }
  const std::string& address() const { return address_; }

  // The next message, or nullopt when none came within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    pollfd pfd{fd_, POLLIN, 0};
    if (!bound_ || ::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    std::array<char, 4096> buf{};
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buf.data(), static_cast<std::size_t>(n));
  }

 private:
  std::string address_;
  int fd_ = -1;
  bool bound_ = false;
};

// Whether a notification holds the line `line` (messages are "KEY=VALUE" lines).
inline bool has_line(const std::string& message, const std::string& line) {
  return ("\n" + message + "\n").find("\n" + line + "\n") != std::string::npos;
}

struct FerrydOptions {
  std::vector<std::string> args;
  std::string endpoint = "bus";
  std::string log;            // ferryd's stdout and stderr appended to this file; empty: ours
  std::string notify_socket;  // its NOTIFY_SOCKET, a path or "@name"; empty: a fresh name
  std::string binary;         // empty: ferryd (FERRYD_PATH); ferry-gateway says READY=1 too
};

// A ferryd with `args` whose stdout and stderr are appended to `log`.
inline FerrydOptions with_log(std::string log, std::vector<std::string> args = {}) {
  FerrydOptions o;
  o.args = std::move(args);
  o.log = std::move(log);
  return o;
}

class FerrydProcess {
 public:
  // Starts ferryd with `args` in the current environment's session and waits (up to 10 s)
  // for it to be ready: READY=1 on its NOTIFY_SOCKET, which ferryd sends once its endpoint
  // accepts connections. ok() says whether it was, and why not.
  explicit FerrydProcess(std::vector<std::string> args = {}, std::string endpoint = "bus")
      : FerrydProcess(options_for(std::move(args), std::move(endpoint))) {}

  explicit FerrydProcess(const FerrydOptions& options)
      : notify_(options.notify_socket.empty() ? NotifySocket::unique_address()
                                              : options.notify_socket) {
    auto session = resolve_session();
    auto dir = session ? session_dir(*session, true) : Result<std::string>(session.error());
    if (!dir) {
      error_ = "no session directory: " + dir.error().message();
      return;
    }
    socket_ = *dir + "/" + options.endpoint + ".sock";
    if (!notify_.ok()) {
      error_ = "cannot bind the notification socket " + notify_.address();
      return;
    }
    start(options);
    wait_until_ready(options.log);
  }
  ~FerrydProcess() { stop(); }
  FerrydProcess(const FerrydProcess&) = delete;
  FerrydProcess& operator=(const FerrydProcess&) = delete;

  // Ready (READY=1 received), or why not: it exited (and how), or never said so.
  ::testing::AssertionResult ok() const {
    if (ready_) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << error_;
  }
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_; }
  // The message that said READY=1 (with whatever else it said: "STATUS=...").
  const std::string& ready_message() const { return ready_message_; }
  // The next message ferryd sent to its NOTIFY_SOCKET after READY=1 (STOPPING=1, ...).
  std::optional<std::string> notification(std::chrono::milliseconds timeout) {
    return notify_.receive(timeout);
  }

  // Sends `signal` (SIGTERM: a clean stop), then the exit status (or 128 + signal); SIGKILL
  // after 10 s.
  int stop(int signal = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    int status = 0;
    for (int i = 0; i < 1000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return tools::exit_code(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return 128 + SIGKILL;
  }

 private:
  static FerrydOptions options_for(std::vector<std::string> args, std::string endpoint) {
    FerrydOptions o;
    o.args = std::move(args);
    o.endpoint = std::move(endpoint);
    return o;
  }

  void start(const FerrydOptions& options) {
    // Everything the child needs is made before fork(): it only dup2()s and exec()s.
    std::string path = options.binary.empty() ? std::string(FERRYD_PATH) : options.binary;
    name_ = path.substr(path.rfind('/') + 1);
    std::vector<std::string> args = {path};
    args.insert(args.end(), options.args.begin(), options.args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = {"NOTIFY_SOCKET=" + notify_.address()};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) env.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const int log = options.log.empty() ? -1
                                        : ::open(options.log.c_str(),
                                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    (void)std::fflush(stdout);
    (void)std::fflush(stderr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) std::_Exit(99);
      if (log >= 0) {
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
      }
      execve(path.c_str(), argv.data(), envp.data());
      std::_Exit(127);
    }
    if (log >= 0) ::close(log);
  }

  void wait_until_ready(const std::string& log) {
    const std::string where = log.empty() ? "" : " (its log: " + log + ")";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pid_ > 0) {
      if (auto message = notify_.receive(std::chrono::milliseconds(20));
          message && has_line(*message, "READY=1")) {
        ready_ = true;
        ready_message_ = *message;
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = name_ + " exited with status " + std::to_string(tools::exit_code(status)) +
                 " before it was ready" + where;
        return;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        error_ = name_ + " (pid " + std::to_string(pid_) + ") did not say READY=1 on " +
                 notify_.address() + " within 10 s" + where;
        return;
      }
    }
    error_ = name_ + " could not be started (fork failed)";
  }

  NotifySocket notify_;
  pid_t pid_ = -1;
  bool ready_ = false;
  std::string ready_message_;
  std::string name_ = "ferryd";
  std::string error_;
  std::string socket_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The lines of ferryd's JSON log (FerrydOptions::log) whose event is `event`.
inline std::vector<nlohmann::json> log_events(const std::string& log, std::string_view event) {
  std::vector<nlohmann::json> found;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);  // not JSON: discarded
    if (j.is_object() && j.value("event", "") == event) found.push_back(j);
  }
  return found;
}

// Runs a shell command: its standard output and exit status (-1 if it did not exit).
inline std::pair<std::string, int> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return {"", -1};
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

inline std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

// Mappings of ferry's shared-memory segments ("memfd:ferry:..." in /proc/<pid>/maps).
// (All mappings would not do: allocators, sanitizers among them, keep some.)
inline std::size_t ferry_mappings(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:ferry") != std::string::npos) ++n;
  }
  return n;
}

// CPU time (user + system) process `pid` has used so far, in milliseconds; -1 if unknown.
inline long cpu_ms(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  // Fields after the command name (which may hold spaces) in parentheses: utime and stime
  // are the 12th and 13th of them (fields 14 and 15 of proc(5)), in clock ticks.
  const std::size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  long utime = 0;
  long stime = 0;
  for (int i = 1; i <= 13 && rest >> field; ++i) {
    if (i == 12) utime = std::atol(field.c_str());
    if (i == 13) stime = std::atol(field.c_str());
  }
  return (utime + stime) * 1000 / ::sysconf(_SC_CLK_TCK);
}

// A field of /proc/<pid>/status in kB (VmRSS, VmHWM, ...); -1 if missing.
inline long status_kb(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

}  // namespace ferry::test
