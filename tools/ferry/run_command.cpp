// SPDX-License-Identifier: Apache-2.0
// Running `ferry serve --exec` commands (run_command.hpp).
#include "run_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>
#include <ctime>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/process.hpp"
#include "ferry/unique_fd.hpp"

namespace ferry::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxErr = 4096;

Result<void> make_pipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for the command");
  read_end->reset(fds[0]);
  write_end->reset(fds[1]);
  return {};
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const char* command, int in, int out, int err) {
  ::setpgid(0, 0);  // its own group, so that a time-out kills everything it started
  if (::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
      ::dup2(err, STDERR_FILENO) < 0) {
    ::_exit(127);
  }
  ::signal(SIGPIPE, SIG_DFL);  // ignored dispositions survive exec; give it the default back
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execl("/bin/sh", "sh", "-c", command, static_cast<char*>(nullptr));
  ::_exit(127);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  if (left.count() > 60000) return 60000;
  return static_cast<int>(left.count());
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

Result<CommandOutcome> run_command(const std::string& command, std::string_view input,
                                   std::size_t max_output, std::chrono::milliseconds timeout) {
  UniqueFd in_r;
  UniqueFd in_w;
  UniqueFd out_r;
  UniqueFd out_w;
  UniqueFd err_r;
  UniqueFd err_w;
  if (auto r = make_pipe(&in_r, &in_w); !r) return r.error();
  if (auto r = make_pipe(&out_r, &out_w); !r) return r.error();
  if (auto r = make_pipe(&err_r, &err_w); !r) return r.error();

  const pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno(errno, "fork for the command");
  if (pid == 0) exec_child(command.c_str(), in_r.get(), out_w.get(), err_w.get());
  ::setpgid(pid, pid);  // also here, so the group exists before we might kill it
  in_r.reset();
  out_w.reset();
  err_w.reset();

  const auto deadline = Clock::now() + timeout;
  CommandOutcome outcome;
  set_nonblocking(in_w.get());
  if (input.empty()) in_w.reset();
  bool timed_out = false;
  std::array<char, 65536> buffer{};
  while (out_r.get() >= 0 || err_r.get() >= 0) {
    std::array<pollfd, 3> fds{pollfd{in_w.get(), POLLOUT, 0}, pollfd{out_r.get(), POLLIN, 0},
                              pollfd{err_r.get(), POLLIN, 0}};
    const int wait_ms = remaining_ms(deadline);
    if (wait_ms == 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (fds[0].revents != 0) {
      const ssize_t w = ::write(in_w.get(), input.data(), input.size());
      if (w > 0) {
        input.remove_prefix(static_cast<std::size_t>(w));
        if (input.empty()) in_w.reset();
      } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        in_w.reset();  // EPIPE: the command does not read its input; that is its business
      }
    }
    for (std::size_t i = 1; i < 3; ++i) {
      if (fds[i].revents == 0) continue;
      UniqueFd& fd = i == 1 ? out_r : err_r;
      const ssize_t r = ::read(fd.get(), buffer.data(), buffer.size());
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        fd.reset();
        continue;
      }
      const std::string_view got(buffer.data(), static_cast<std::size_t>(r));
      std::string& sink = i == 1 ? outcome.out : outcome.err;
      const std::size_t limit = i == 1 ? max_output : kMaxErr;
      const std::size_t room = limit - std::min(limit, sink.size());
      sink.append(got.substr(0, room));
      if (i == 1 && got.size() > room) outcome.out_too_large = true;
    }
  }
  in_w.reset();

  // The output is complete; the command should be exiting. Wait for it until the deadline.
  int status = 0;
  pid_t done = 0;
  while (!timed_out) {
    done = ::waitpid(pid, &status, WNOHANG);
    if (done != 0 || remaining_ms(deadline) == 0) break;
    const timespec pause{0, 1000000};  // 1 ms
    ::nanosleep(&pause, nullptr);
  }
  if (done == 0 || timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    outcome.end = CommandOutcome::End::timed_out;
    return outcome;
  }
  if (done < 0) return Error::from_errno(errno, "waiting for the command");
  if (WIFSIGNALED(status)) {
    outcome.end = CommandOutcome::End::signaled;
    outcome.status = WTERMSIG(status);
  } else {
    outcome.end = CommandOutcome::End::exited;
    outcome.status = WEXITSTATUS(status);
  }
  return outcome;
}

std::string describe(const CommandOutcome& outcome, std::chrono::milliseconds timeout) {
  switch (outcome.end) {
    case CommandOutcome::End::exited:
      return "command exited with status " + std::to_string(outcome.status);
    case CommandOutcome::End::signaled:
      return "command was killed by " + tools::signal_text(outcome.status);
    case CommandOutcome::End::timed_out:
      return "command timed out after " + std::to_string(timeout.count()) + " ms";
  }
  return "command failed";
}

}  // namespace ferry::cli
