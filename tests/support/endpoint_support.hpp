// endpoint_support.hpp: test helpers for servers and clients: a private runtime directory
// and session per test (so tests never see each other's endpoints), and a Server running on
// a thread of the test.
#pragma once

#include <stdlib.h>  // mkdtemp, setenv

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "ferry/server.hpp"

namespace ferry::test {

// Points XDG_RUNTIME_DIR at a fresh 0700 directory and FERRY_SESSION at `session`;
// restores both and removes the directory on destruction.
class ScopedSession {
 public:
  explicit ScopedSession(const std::string& session = "test") {
    save("XDG_RUNTIME_DIR", old_runtime_);
    save("FERRY_SESSION", old_session_);
    std::string tmpl = "/tmp/ferry-test-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    setenv("XDG_RUNTIME_DIR", dir_.c_str(), 1);
    setenv("FERRY_SESSION", session.c_str(), 1);
  }
  ~ScopedSession() {
    restore("XDG_RUNTIME_DIR", old_runtime_);
    restore("FERRY_SESSION", old_session_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScopedSession(const ScopedSession&) = delete;
  ScopedSession& operator=(const ScopedSession&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  static void save(const char* name, std::optional<std::string>& out) {
    if (const char* v = std::getenv(name)) out = v;
  }
  static void restore(const char* name, const std::optional<std::string>& value) {
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  std::string dir_;
  std::optional<std::string> old_runtime_;
  std::optional<std::string> old_session_;
};

// Runs server->run() on a thread from start() until destruction.
class ServerThread {
 public:
  explicit ServerThread(std::unique_ptr<Server> server) : server_(std::move(server)) {}
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
  Server* operator->() { return server_.get(); }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

}  // namespace ferry::test
