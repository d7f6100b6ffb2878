// SPDX-License-Identifier: Apache-2.0
// steady_client.hpp: a well-behaved client on its own thread, for tests that let a hostile
// or stalled peer loose and check that everyone else is still served.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "ferry/client.hpp"
#include "support/lateness.hpp"
#include "support/test_support.hpp"

namespace ferry::test {

// Checked round trips (request `echo_type`, whose server replies with the payload) until
// stopped, 0.5 ms apart; records failures and the longest time between two replies, also
// less what the machine itself held the process up meanwhile (lateness.hpp).
class SteadyClient {
 public:
  explicit SteadyClient(std::string endpoint, std::uint16_t echo_type = 1)
      : endpoint_(std::move(endpoint)), echo_type_(echo_type) {
    thread_ = std::thread([this] { run(); });
    while (!started_.load() && !failed_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~SteadyClient() { stop(); }
  SteadyClient(const SteadyClient&) = delete;
  SteadyClient& operator=(const SteadyClient&) = delete;

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int round_trips() const { return round_trips_.load(); }
  bool failed() const { return failed_.load(); }
  std::int64_t longest_pause_ms() const { return longest_pause_ms_.load(); }
  // The longest time between two replies, less the machine's own lateness meanwhile.
  std::int64_t longest_unexplained_pause_ms() const { return longest_unexplained_ms_.load(); }
  std::string first_error() {
    const std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  void fail(const std::string& why) {
    const std::lock_guard lock(mu_);
    if (first_error_.empty()) first_error_ = why;
    failed_ = true;
  }
  void run() {
    using Clock = std::chrono::steady_clock;
    ClientOptions options;
    options.endpoint = endpoint_;
    options.name = "steady";
    auto client = Client::connect(options);
    if (!client) {
      fail("connect: " + client.error().message());
      return;
    }
    started_ = true;
    auto last = Clock::now();
    std::int64_t late_then = lateness_.total_us();
    for (std::uint64_t i = 0; !stop_.load(); ++i) {
      const std::string payload = "steady " + std::to_string(i);
      auto reply = client->request(echo_type_, as_bytes(payload), std::chrono::seconds(5));
      if (!reply) {
        fail("request " + std::to_string(i) + ": " + reply.error().message());
        return;
      }
      if (reply->text() != payload) {
        fail("request " + std::to_string(i) + " got \"" + std::string(reply->text()) + "\"");
        return;
      }
      const auto now = Clock::now();
      const auto pause = std::chrono::duration_cast<std::chrono::milliseconds>(now - last).count();
      longest_pause_ms_ = std::max<std::int64_t>(longest_pause_ms_.load(), pause);
      const std::int64_t late_now = lateness_.total_us();
      longest_unexplained_ms_ = std::max<std::int64_t>(longest_unexplained_ms_.load(),
                                                       pause - (late_now - late_then) / 1000);
      last = now;
      late_then = late_now;
      round_trips_.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }

  std::string endpoint_;
  std::uint16_t echo_type_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int> round_trips_{0};
  std::atomic<std::int64_t> longest_pause_ms_{0};
  std::atomic<std::int64_t> longest_unexplained_ms_{0};
  std::mutex mu_;
  std::string first_error_;
  Lateness lateness_;  // before thread_, which reads it
  std::thread thread_;
};

// Stops `steady` and checks it never failed, made at least `min_round_trips` and never
// waited `max_pause_ms` or more for a reply beyond what the machine itself held the process
// up meanwhile (lateness.hpp: a stall the server caused still fails).
inline void expect_steady(SteadyClient& steady, int min_round_trips,
                          std::int64_t max_pause_ms = 1000) {
  steady.stop();
  EXPECT_FALSE(steady.failed()) << "the well-behaved client failed: " << steady.first_error();
  EXPECT_GE(steady.round_trips(), min_round_trips)
      << "the well-behaved client made too few round trips";
  EXPECT_LT(steady.longest_unexplained_pause_ms(), max_pause_ms)
      << "the well-behaved client waited " << steady.longest_unexplained_pause_ms()
      << " ms for a reply beyond what the machine held it up (" << steady.longest_pause_ms()
      << " ms in all at most)";
}

}  // namespace ferry::test
