// SPDX-License-Identifier: Apache-2.0
// tests/support/two_buses.hpp: two buses on one machine (two sessions, "a" and "b", each
// with its ferryd) for the tests of what joins buses (ferry-gateway, ferry-bridge), and
// what those tests share: loopback ports held for a child to bind, what a child's READY=1
// says, one series of a /metrics page, and a responder thread on a bus.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"

namespace ferry::test {

using namespace std::chrono_literals;

inline std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// A loopback port held (bound with SO_REUSEADDR, not listening) until release(): the gateway
// binds it too and listens, and no other process can take it in between.
class PortReservation {
 public:
  PortReservation() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);  // NOLINT
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);  // NOLINT
    port_ = ntohs(addr.sin_port);
  }
  ~PortReservation() { release(); }
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// What a gateway's READY=1 message says after `what` ("listening on ", "metrics on "), up to
// the next comma or line.
inline std::string status_of(const std::string& ready, const std::string& what) {
  const std::size_t at = ready.find(what);
  if (at == std::string::npos) return {};
  const std::size_t from = at + what.size();
  return ready.substr(from, ready.find_first_of(",\n", from) - from);
}

// One series' value in a gateway's /metrics ("(missing)" when it is not there).
inline std::string metric(const std::string& text, const std::string& series) {
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "(missing)";
  const std::size_t from = at + series.size() + 2;
  return text.substr(from, text.find('\n', from) - from);
}

inline ClientOptions on(const std::string& session) {
  ClientOptions o;
  o.session = session;
  return o;
}

// Serves `type` on a session's bus from a thread: answers "<prefix><request>", each after
// `delay` (several requests then wait at once).
class Responder {
 public:
  Responder(const std::string& session, std::uint16_t type, std::string prefix,
            std::chrono::milliseconds delay = 0ms)
      : thread_([this, session, type, prefix, delay] { serve(session, type, prefix, delay); }) {
    while (!ready_) std::this_thread::sleep_for(1ms);
  }
  ~Responder() {
    stop_ = true;
    thread_.join();
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  bool ok() const { return !failed_; }

 private:
  struct Held {
    Message request;  // its type and correlation id
    std::string answer;
    std::chrono::steady_clock::time_point due;
  };
  void serve(const std::string& session, std::uint16_t type, const std::string& prefix,
             std::chrono::milliseconds delay) {
    auto c = Client::connect(on(session));
    if (!c || !c->serve(type)) {
      failed_ = true;
      ready_ = true;
      return;
    }
    ready_ = true;
    std::vector<Held> held;
    while (!stop_) {
      (void)c->wait(
          [&](const Message& m) {
            if (!m.is_request()) return;
            Message kept = m;
            kept.payload = {};
            held.push_back(
                {kept, prefix + std::string(m.text()), std::chrono::steady_clock::now() + delay});
          },
          delay.count() > 0 ? 5ms : 20ms);
      const auto now = std::chrono::steady_clock::now();
      for (auto it = held.begin(); it != held.end();) {
        if (it->due > now) {
          ++it;
          continue;
        }
        (void)c->reply(it->request, bytes(it->answer));
        it = held.erase(it);
      }
    }
  }

  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

class BusPair : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_a_ = std::make_unique<FerrydProcess>(
        with_log(session_.dir() + "/ferryd-a.log", {"--session", "a"}));
    bus_b_ = std::make_unique<FerrydProcess>(
        with_log(session_.dir() + "/ferryd-b.log", {"--session", "b"}));
    ASSERT_TRUE(bus_a_->ok());
    ASSERT_TRUE(bus_b_->ok());
  }

 protected:
  ScopedSession session_;
  std::unique_ptr<FerrydProcess> bus_a_;
  std::unique_ptr<FerrydProcess> bus_b_;
};

}  // namespace ferry::test
