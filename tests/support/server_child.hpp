// server_child.hpp: a server in a child process of the test (so that the test process holds
// only clients' descriptors and mappings, and a server that hangs or spins can be watched
// and killed), ready once a client gets through its handshake.
#pragma once

#include <signal.h>

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
  // killed), then waits up to 5 s until a client can connect to it.
  ServerChild(const std::string& endpoint, const std::function<int()>& serve)
      : pid_(fork_child(serve)) {
    ClientOptions options;
    options.endpoint = endpoint;
    for (int i = 0; i < 500; ++i) {
      if (Client::connect(options)) {
        ready_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
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
