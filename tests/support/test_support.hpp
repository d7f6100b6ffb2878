// SPDX-License-Identifier: Apache-2.0
// test_support.hpp: helpers shared by ferry's tests: a ring in real shared memory that
// survives fork(), payload patterns that make every byte checkable, waiting for an event
// with a deadline, a watchdog that fails a test which hangs, child processes that die with
// their parent and a gate they wait at, and FERRY_TEST_SCALE.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "common/pattern.hpp"
#include "common/process.hpp"
#include "common/shared_region.hpp"
#include "ferry/ring.hpp"

namespace ferry::test {

// FERRY_TEST_SCALE (default 1) shrinks iteration counts for slow builds (sanitizers).
inline double test_scale() {
  const char* s = std::getenv("FERRY_TEST_SCALE");
  const double v = s != nullptr ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}
inline std::uint64_t scaled(std::uint64_t n) {
  const auto v = static_cast<std::uint64_t>(static_cast<double>(n) * test_scale());
  return v > 0 ? v : 1;
}

// Shared memory (tools/common/shared_region.hpp), so a forked child writes the same pages.
class SharedBlock {
 public:
  explicit SharedBlock(std::size_t size) : region_(create(size)) {}
  void* data() const { return region_.data(); }
  std::size_t size() const { return region_.size(); }

 private:
  static tools::SharedRegion create(std::size_t size) {
    auto region = tools::SharedRegion::create("ferry-test-block", size);
    if (!region) {
      std::fprintf(stderr, "SharedBlock: %s\n", region.error().message().c_str());
      std::abort();
    }
    return std::move(*region);
  }
  tools::SharedRegion region_;
};

// A formatted ring in shared memory.
class SharedRing : public SharedBlock {
 public:
  explicit SharedRing(RingConfig config = {}) : SharedBlock(ring_bytes(config.capacity)) {
    auto r = ring_format(data(), size(), config);
    if (!r) {
      std::fprintf(stderr, "ring_format: %s\n", r.error().message().c_str());
      std::abort();
    }
  }
  RingProducer producer(const WaitOptions& w = {}, RingWakeFds fds = {}) {
    return RingProducer::attach(data(), size(), w, fds).value();
  }
  RingConsumer consumer(const WaitOptions& w = {}, RingWakeFds fds = {}) {
    return RingConsumer::attach(data(), size(), w, fds).value();
  }
};

// Deterministic bytes for record `seq` (tools/common/pattern.hpp).
inline void fill_pattern(std::span<std::byte> out, std::uint64_t seq) {
  tools::fill_pattern(out, tools::pattern_key(0, seq));
}
// True when `in` holds exactly fill_pattern(seq).
inline bool check_pattern(std::span<const std::byte> in, std::uint64_t seq) {
  return tools::check_pattern(in, tools::pattern_key(0, seq));
}

// The payload size of record `seq` in a random-size stream: 0..max, skewed small.
inline std::size_t pattern_size(std::uint64_t seq, std::size_t max) {
  std::uint64_t x = (seq + 1) * 0xD1B54A32D192ED03ull;
  x ^= x >> 29;
  const std::size_t limit = (x & 3) == 0 ? max : (max < 256 ? max : 256);
  return static_cast<std::size_t>((x >> 8) % (limit + 1));
}

// How long a test waits for something that is bound to happen: far beyond what any load
// on a shared 2-core machine adds, so it only turns a hang into a failure, never a slow
// machine into one.
inline constexpr std::chrono::seconds kPatience{30};

// Waits until done() is true, or `timeout` passed; returns done()'s last answer. Tests wait
// for the event itself this way instead of sleeping a guessed time first. The pause
// between looks grows from 50 us to 5 ms: quick when the event is quick, cheap when not.
template <class Done>
bool wait_for(Done&& done, std::chrono::nanoseconds timeout = kPatience) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::microseconds pause(50);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
  return true;
}

// Fails the test (exits the process with a message) if not disarmed within `limit`.
// A hang becomes a failure with a reason, never a CI timeout.
class Watchdog {
 public:
  Watchdog(std::chrono::seconds limit, std::string what, std::function<void()> on_fire = {})
      : thread_([this, limit, what = std::move(what), on_fire = std::move(on_fire)] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "WATCHDOG: %s did not finish within %lld s: hang\n", what.c_str(),
                         static_cast<long long>(limit.count()));
            if (on_fire) on_fire();
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Children of the test process (tools/common/process.hpp).
using tools::exit_code;
using tools::fork_child;
using tools::wait_child;

// A gate forked children wait at until the test opens it, without polling: a pipe whose
// write end each child drops as it starts to wait, so that when the test closes its own
// every waiting child reads end-of-file at once.
class ChildGate {
 public:
  ChildGate() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) {
      std::perror("pipe2");
      std::abort();
    }
  }
  ~ChildGate() {
    open();
    ::close(fds_[0]);
  }
  ChildGate(const ChildGate&) = delete;
  ChildGate& operator=(const ChildGate&) = delete;

  // In a child: blocks until the test calls open() (or dies).
  void wait_in_child() {
    ::close(fds_[1]);
    char c = 0;
    while (::read(fds_[0], &c, 1) < 0 && errno == EINTR) {
    }
  }
  // In the test: lets every child through, now and later.
  void open() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

inline std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

}  // namespace ferry::test
