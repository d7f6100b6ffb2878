// SPDX-License-Identifier: Apache-2.0
// endpoint_support.hpp: test helpers for servers and clients: a private runtime directory
// and session per test (so tests never see each other's endpoints), a Server running on
// a thread of the test, and connecting to a Server that no thread runs.
#pragma once

#include <stdlib.h>  // mkdtemp, setenv

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "ferry/client.hpp"
#include "ferry/result.hpp"
#include "ferry/server.hpp"

namespace ferry::test {

// Sets the environment variable `name` to `value` (nullopt: unsets it); restores it on
// destruction.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* v = std::getenv(name_.c_str())) old_ = v;
    set(value);
  }
  ~ScopedEnv() { set(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  // What it was before.
  const std::optional<std::string>& old() const { return old_; }

 private:
  void set(const std::optional<std::string>& value) {
    if (value) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  std::string name_;
  std::optional<std::string> old_;
};

// Points XDG_RUNTIME_DIR at a fresh 0700 directory and FERRY_SESSION at `session`;
// restores both and removes the directory on destruction.
class ScopedSession {
 public:
  explicit ScopedSession(const std::string& session = "test")
      : dir_(make_dir()), runtime_("XDG_RUNTIME_DIR", dir_), session_("FERRY_SESSION", session) {}
  ~ScopedSession() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScopedSession(const ScopedSession&) = delete;
  ScopedSession& operator=(const ScopedSession&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  static std::string make_dir() {
    std::string tmpl = "/tmp/ferry-test-XXXXXX";
    return mkdtemp(tmpl.data());
  }
  std::string dir_;
  ScopedEnv runtime_;
  ScopedEnv session_;
};

// Runs server.run() on a thread from start() until destruction. It owns the Server; the
// thread needs it at a stable address, so ServerThread itself is neither copied nor moved.
class ServerThread {
 public:
  explicit ServerThread(Server server) : server_(std::move(server)) {}
  ~ServerThread() { stop(); }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  void start() {
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  void stop() {
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
  }
  // Stops and destroys the server: its clients see it go.
  void reset() {
    stop();
    server_.reset();
  }
  Server& operator*() { return *server_; }
  Server* operator->() { return &*server_; }

 private:
  std::optional<Server> server_;  // empty after reset()
  std::thread thread_;
};

// Connects on a helper thread while this thread turns `server`, which no thread runs (a
// handshake needs both). Afterwards the server is still not running: it serves only when
// the caller turns it or hands it to a thread.
inline Result<Client> connect_while_serving(Server& server, const ClientOptions& options = {}) {
  std::optional<Result<Client>> result;
  std::atomic<bool> done{false};
  std::thread connecting([&] {
    result.emplace(Client::connect(options));
    done = true;
  });
  while (!done.load()) (void)server.run_once(std::chrono::milliseconds(1));
  connecting.join();
  return std::move(*result);
}

}  // namespace ferry::test
