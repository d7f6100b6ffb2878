// SPDX-License-Identifier: Apache-2.0
// bench/workload/participants.cpp: starting, hearing and reaping participants
// (participants.hpp).
#include "workload/participants.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/clock.hpp"

namespace ferry::bench {

Participants::~Participants() {
  bool running = false;
  for (const Participant& p : list_) running |= !p.reaped;
  if (running) {
    signal_all(SIGKILL);
    reap_all(0);
  }
  for (Participant& p : list_) {
    if (p.out >= 0) ::close(p.out);
  }
}

Result<std::size_t> Participants::start(std::string name, const std::vector<std::string>& command,
                                        std::vector<std::string> args,
                                        std::span<const int> keep_fds) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for " + name);
  args.emplace_back("--result-fd");
  args.push_back(std::to_string(pipe_fds[1]));
  std::vector<std::string> all(command.begin(), command.end());
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(all.size() + 1);
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<int> keep(keep_fds.begin(), keep_fds.end());
  keep.push_back(pipe_fds[1]);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return Error::from_errno(err, "fork for " + name);
  }
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    for (int fd : keep) ::fcntl(fd, F_SETFD, 0);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    static constexpr char kMsg[] = "ferry bench: cannot execute the participant program\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  Participant p;
  p.name = std::move(name);
  p.pid = pid;
  p.out = pipe_fds[0];
  list_.push_back(std::move(p));
  return list_.size() - 1;
}

namespace {

void on_line(Participant& p, std::string_view line) {
  if (line == "ready") {
    p.ready = true;
  } else if (line.substr(0, 7) == "result ") {
    p.report = Report::decode(line);
    if (!p.report && p.error.empty()) p.error = "sent a result that does not parse";
  } else if (line.substr(0, 6) == "error ") {
    if (p.error.empty()) p.error = line.substr(6);
  } else if (p.error.empty()) {
    p.error = "said something unexpected: " + std::string(line.substr(0, 200));
  }
}

void reap(Participant& p, bool block) {
  if (p.reaped || p.pid <= 0) return;
  int status = 0;
  rusage usage{};
  pid_t r = 0;
  do {
    r = ::wait4(p.pid, &status, block ? 0 : WNOHANG, &usage);
  } while (r < 0 && errno == EINTR);
  if (r == p.pid) {
    p.reaped = true;
    p.status = status;
    p.usage = usage;
  } else if (r < 0) {
    p.reaped = true;  // not our child any more: nothing to wait for
    p.status = 0;
  }
}

}  // namespace

void Participants::pump(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < list_.size(); ++i) {
    if (list_[i].out < 0) continue;
    fds.push_back(pollfd{list_[i].out, POLLIN, 0});
    index.push_back(i);
  }
  if (fds.empty()) {
    if (timeout_ms > 0) ::poll(nullptr, 0, timeout_ms);
    return;
  }
  const int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return;  // timeout, or EINTR: the caller looks at its flags
  char buf[65536];
  for (std::size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents == 0) continue;
    Participant& p = list_[index[k]];
    const ssize_t got = ::read(p.out, buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) {
      ::close(p.out);
      p.out = -1;
      if (!p.report && p.error.empty()) {
        reap(p, true);
        p.error = "ended without a result (" + describe_status(p.status) + ")";
      }
      continue;
    }
    p.pending.append(buf, static_cast<std::size_t>(got));
    std::size_t start = 0;
    for (std::size_t nl = p.pending.find('\n'); nl != std::string::npos;
         nl = p.pending.find('\n', start)) {
      on_line(p, std::string_view(p.pending).substr(start, nl - start));
      start = nl + 1;
    }
    p.pending.erase(0, start);
  }
}

bool Participants::wait_ready(std::span<const std::size_t> which, std::int64_t deadline_ns) {
  for (;;) {
    if (failed() != nullptr) return false;
    bool all = true;
    for (std::size_t i : which) all &= list_[i].ready;
    if (all) return true;
    const std::int64_t left = deadline_ns - tools::now_ns();
    if (left <= 0) return false;
    pump(static_cast<int>(std::min<std::int64_t>(left / 1'000'000 + 1, 100)));
  }
}

bool Participants::all_closed(std::span<const std::size_t> which) const {
  return std::ranges::all_of(which, [&](std::size_t i) { return list_[i].out < 0; });
}

const Participant* Participants::failed() const {
  for (const Participant& p : list_) {
    if (!p.error.empty()) return &p;
  }
  return nullptr;
}

void Participants::signal_all(int sig) {
  for (const Participant& p : list_) {
    if (!p.reaped && p.pid > 0) ::kill(p.pid, sig);
  }
}

void Participants::reap_all(int timeout_ms) {
  const std::int64_t deadline = tools::now_ns() + std::int64_t{timeout_ms} * 1'000'000;
  for (;;) {
    bool running = false;
    for (Participant& p : list_) {
      reap(p, false);
      running |= !p.reaped;
    }
    if (!running) return;
    if (tools::now_ns() >= deadline) break;
    ::poll(nullptr, 0, 10);
  }
  signal_all(SIGKILL);
  for (Participant& p : list_) reap(p, true);
}

Pipe::Pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) == 0) {
    read = fds[0];
    write = fds[1];
  }
}

Pipe::~Pipe() {
  close_read();
  close_write();
}

void Pipe::close_read() noexcept {
  if (read >= 0) ::close(read);
  read = -1;
}

void Pipe::close_write() noexcept {
  if (write >= 0) ::close(write);
  write = -1;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigdescr_np(sig);
    return "killed by signal " + std::to_string(sig) +
           (name != nullptr ? " (" + std::string(name) + ")" : "");
  }
  return "status " + std::to_string(status);
}

}  // namespace ferry::bench
