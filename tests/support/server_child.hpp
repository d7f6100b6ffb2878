// SPDX-License-Identifier: Apache-2.0
// server_child.hpp: a server in a child process of the test (so that the test process holds
// only clients' descriptors and mappings, and a server that hangs or spins can be watched
// and killed), ready once a client gets through its handshake.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "ferry/client.hpp"
#include "support/test_support.hpp"

namespace ferry::test {

class ServerChild {
 public:
  // Forks a child that runs `serve` (which makes and runs a server on `endpoint` until
  // killed), then waits until a client can connect to it, or the child exited (looked at
  // without reaping it: the destructor does), or kPatience passed.
  ServerChild(const std::string& endpoint, const std::function<int()>& serve)
      : pid_(fork_child(serve)) {
    ClientOptions options;
    options.endpoint = endpoint;
    bool exited = false;
    auto up_or_gone = [&] {
      siginfo_t info{};
      const int flags = WEXITED | WNOHANG | WNOWAIT;
      exited = ::waitid(P_PID, static_cast<id_t>(pid_), &info, flags) == 0 && info.si_pid == pid_;
      return exited || Client::connect(options).ok();
    };
    ready_ = wait_for(up_or_gone) && !exited;
  }
  ~ServerChild() {
    ::kill(pid_, SIGKILL);
    wait_child(pid_);
  }
  ServerChild(const ServerChild&) = delete;
  ServerChild& operator=(const ServerChild&) = delete;
  bool ready() const { return ready_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  bool ready_ = false;
};

}  // namespace ferry::test
