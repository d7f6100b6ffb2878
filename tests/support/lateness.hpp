// SPDX-License-Identifier: Apache-2.0
// lateness.hpp: how long the machine itself kept this process off the CPU, so that a test
// that bounds a wall-clock time (a reply within 250 ms, a refusal "at once") judges what it
// tests and not a busy machine (beside CPU hogs, a whole process can stand still for over a
// second). A thread that only sleeps 1 ms at a time adds up how late it woke, counting only
// wake-ups more than 2 ms late (timer slack and wake-up latency are tens of microseconds).
// A stall that the code under test causes does not stall that thread, so it still counts.
// Thread-safety: total_us() from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace ferry::test {

class Lateness {
 public:
  Lateness() : thread_([this] { tick(); }) {}
  ~Lateness() {
    stop_ = true;
    thread_.join();
  }
  Lateness(const Lateness&) = delete;
  Lateness& operator=(const Lateness&) = delete;

  // Microseconds the sleeping thread woke late so far, added up.
  std::int64_t total_us() const noexcept { return late_us_.load(); }

 private:
  void tick() {
    using Clock = std::chrono::steady_clock;
    constexpr auto kTick = std::chrono::milliseconds(1);
    while (!stop_.load()) {
      const auto before = Clock::now();
      std::this_thread::sleep_for(kTick);
      const auto late =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - before - kTick);
      if (late > std::chrono::milliseconds(2)) late_us_.fetch_add(late.count());
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> late_us_{0};
  std::thread thread_;
};

// Wall-clock time since it was made, and the same less what `lateness` added up meanwhile.
class Stopwatch {
 public:
  explicit Stopwatch(const Lateness& lateness)
      : lateness_(lateness), start_(Clock::now()), late_at_start_(lateness.total_us()) {}
  std::int64_t elapsed_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count();
  }
  std::int64_t elapsed_ms() const { return elapsed_us() / 1000; }
  // Elapsed, less the machine's own lateness since the start (never below 0).
  std::int64_t unexplained_us() const {
    const std::int64_t late_us = lateness_.total_us() - late_at_start_;
    return std::max<std::int64_t>(0, elapsed_us() - late_us);
  }
  std::int64_t unexplained_ms() const { return unexplained_us() / 1000; }

 private:
  using Clock = std::chrono::steady_clock;
  const Lateness& lateness_;
  Clock::time_point start_;
  std::int64_t late_at_start_;
};

}  // namespace ferry::test
