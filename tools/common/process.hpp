// SPDX-License-Identifier: Apache-2.0
// tools/common/process.hpp: a function run in a child process, and its exit status. The
// pingpong floor's two sides, the tests' clients and servers are such children. And where
// this process's executable is, next to which its companions are installed.
// Thread-safety: fork_child() copies only the calling thread into the child; call it where
// the child's function needs nothing another thread holds (a lock, a half-written buffer).
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

namespace ferry::tools {

// A wait status as one number: the exit code, or 128 + the signal that ended the process
// (as a shell reports it).
inline int exit_code(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// "signal 9 (Killed)": a signal for messages.
inline std::string signal_text(int signal) {
  const char* name = ::strsignal(signal);
  return "signal " + std::to_string(signal) +
         (name != nullptr ? " (" + std::string(name) + ")" : std::string());
}

// How a process ended, for messages: "exited with status 1", "was killed by signal 9
// (Killed)".
inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by " + signal_text(WTERMSIG(status));
  return "ended";
}

// Forks a child that runs `fn` and exits with what it returns (std::_Exit: no atexit
// handlers, and stdio buffers copied from the parent are not written twice). The child gets
// SIGKILL when the thread that forked it ends, so a failed or killed parent leaves no
// orphans; if that thread was already gone, the child exits with 99 at once. Returns the
// child's pid, or -1 (errno set) when fork() fails.
inline pid_t fork_child(const std::function<int()>& fn) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(99);
    std::_Exit(fn());
  }
  return pid;
}

// Waits for the child `pid` to end (through EINTR) and returns exit_code() of it; -1 when
// there is no such child.
inline int wait_child(pid_t pid) noexcept {
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, 0) == pid) return exit_code(status);
    if (errno != EINTR) return -1;
  }
}

// The directory of this process's executable (/proc/self/exe, links resolved), "" if
// unknown: ferryd finds the ferry command there, `ferry exporter` its module.
inline std::string executable_directory() {
  std::array<char, 4096> path{};
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) return {};
  const std::string p(path.data(), static_cast<std::size_t>(n));
  return p.substr(0, p.rfind('/'));
}

}  // namespace ferry::tools
