// SPDX-License-Identifier: Apache-2.0
// waiting.hpp: the sleep/wake protocol between the two sides of a ring.
//
// Waiter (wait_until):                      Waker (wake_if_sleeping), after publishing:
//   s = seq                                   (its publish: a store of tail or head)
//   want = ...; sleeping = 1                  full_fence()              <- SYNC B
//   full_fence()             <- SYNC A        if sleeping && progress >= want
//   if ready(): sleeping = 0, done              and sleeping.exchange(0) == 1:
//   futex_wait(seq, s) / poll(eventfd)            seq += 1; futex_wake / eventfd write
//
// The two fences make this Dekker's pattern: either the waiter's re-check sees the
// publish, or the waker's load sees `sleeping`. A wake between the waiter's re-check and
// its futex_wait changes `seq`, so futex_wait returns at once; an eventfd or a socket keeps
// what was written. So no wake-up is lost (tests/stress/wakeup_stress_test.cpp hands off
// millions).
//
// Between a server and its clients the wake goes through the connection's socket, never
// through an object both hold: each side holds only its own end, a wake is one 1-byte
// message sent with MSG_DONTWAIT (a peer that never reads gets no more; the waker never
// blocks), and the sleeper reads the socket (or polls it), which also says when the peer is
// gone.
// Thread-safety: one waiter and one waker per WaitBlock.
#pragma once

#include <sched.h>
#include <ctime>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "ferry/result.hpp"
#include "ferry/wait.hpp"
#include "wait/wait_layout.hpp"

namespace ferry::detail {

struct SocketSleep;  // ferry/ring.hpp

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

#if defined(__SANITIZE_THREAD__)
#define FERRY_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FERRY_TSAN 1
#endif
#endif

// A full (store-load) barrier. ThreadSanitizer does not model fences (GCC refuses them
// under -fsanitize=thread), so there a sequentially consistent read-modify-write of one
// shared word stands in: it is a full barrier too. (A locked no-op on the stack instead of
// mfence on x86-64 measured no faster here, so the standard fence stays.)
#if defined(FERRY_TSAN)
inline std::atomic<std::uint32_t> tsan_fence_word{0};
#endif
inline void full_fence() noexcept {
#if defined(FERRY_NEGATIVE_CONTROL_WITHOUT_FENCES)
  // Only the fence litmus test's negative control defines this (tests/litmus): it shows
  // that the test catches a missing fence. The compiler is still held back; the CPU is not.
  std::atomic_signal_fence(std::memory_order_seq_cst);
#elif defined(FERRY_TSAN)
  tsan_fence_word.fetch_add(0, std::memory_order_seq_cst);
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

inline std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// An absolute CLOCK_MONOTONIC deadline; kForever never expires.
class Deadline {
 public:
  explicit Deadline(std::chrono::nanoseconds timeout) noexcept
      : at_(timeout == kForever ? kNever : monotonic_ns() + timeout.count()) {}
  bool never() const noexcept { return at_ == kNever; }
  std::int64_t at() const noexcept { return at_; }
  // Nanoseconds left (0 when expired); only meaningful when !never().
  std::int64_t remaining(std::int64_t now) const noexcept { return at_ > now ? at_ - now : 0; }

 private:
  static constexpr std::int64_t kNever = INT64_MAX;
  std::int64_t at_;
};

// How a sleeper of one wait block is woken: a futex on the block's `seq` (fd < 0), an
// eventfd, or a connection socket (SOCK_SEQPACKET, see the top).
struct WakeFd {
  int fd = -1;
  bool socket = false;
  // A sleeper on a socket that keeps this may sleep in a blocking read of it (sleep_on);
  // the only one that sets the socket's SO_RCVTIMEO. Unused by wakers.
  SocketSleep* sleep = nullptr;
};

// Sleeps on `wb` until woken, `seq` changes, or `timeout_ns` passes (< 0: no limit).
// With `wake.fd` >= 0 it polls that descriptor instead and drains it (a socket: the wake
// messages on it; with `wake.sleep`, a blocking socket is read, which waits and drains in
// one call), and also `hangup` when that is >= 0 (a socket `wake` is its own).
// Returns false when the peer is gone: `hangup` hung up, or the socket did.
bool sleep_on(WaitBlock& wb, std::uint32_t seq, WakeFd wake, int hangup,
              std::int64_t timeout_ns) noexcept;

// Whether the peer at the other end of `fd` (a connection's socket) is gone. Wake messages
// waiting to be read are not a hang-up.
bool hung_up(int fd) noexcept;

// Writes one wake to `wake` (an eventfd or a socket; never blocks).
void signal_wake(WakeFd wake) noexcept;

// What one read of a connection socket found: up to kWakesPerRead messages taken in one
// call (recvmmsg), without blocking and without accepting descriptors (a peer that sends
// some gets them dropped by the kernel, and the message is `bad`).
inline constexpr unsigned kWakesPerRead = 16;
struct SocketRead {
  unsigned wakes = 0;  // 1-byte messages
  bool gone = false;   // the peer closed the connection (or sent an empty message)
  bool bad = false;    // any other message (longer, with descriptors) or a socket error
  bool full = false;   // as many as fit were read: there may be more
};
// With `wait_for_one`, a blocking socket's read waits for the first message (up to its
// SO_RCVTIMEO) and takes the others that are there.
SocketRead read_socket(int fd, bool wait_for_one = false) noexcept;
// Reads every wake waiting on a connection socket; false when something else was there.
bool drain_wakes(int fd) noexcept;

// The slow half of wake_if_sleeping(): the sleeper announced itself.
bool wake_sleeper(WaitBlock& wb, std::uint64_t progress, WakeFd wake) noexcept;

// Whether the sleeper of `wb` announced itself, looked at after the caller's publish.
inline bool sleeper_announced(const WaitBlock& wb) noexcept {
  // SYNC B: orders the caller's publish (tail or head store) before the load of
  // `sleeping`; pairs with SYNC A in announce_sleep().
  full_fence();
  return wb.sleeping.load(std::memory_order_acquire) != 0;
}
// Wakes the sleeper of `wb` if it announced itself and `progress` reached what it wants.
// Returns true when it made a syscall. Inline: after every publish, this is one fence and
// one load of a line the other side writes only around its sleeps.
inline bool wake_if_sleeping(WaitBlock& wb, std::uint64_t progress, WakeFd wake) noexcept {
  if (!sleeper_announced(wb)) return false;
  return wake_sleeper(wb, progress, wake);
}

// A full barrier right after a read-modify-write: on x86 the locked instruction already is
// one (Intel SDM vol. 3, 8.2.2: locked instructions have a total order and are not
// reordered with loads or stores), so only the compiler is held back; elsewhere a fence.
inline void full_fence_after_rmw() noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(FERRY_TSAN)
  std::atomic_signal_fence(std::memory_order_seq_cst);
#else
  full_fence();
#endif
}

// The server's sleep word (conn_layout.hpp, WakeHeader::state), written by the server only.
// Server, before it sleeps:                Producer, after publishing and setting its bit:
//   state = (++epoch << 1) | 1               full fence                 <- SYNC B
//   full fence               <- SYNC A       s = state
//   any bit in the bitmap? -> do not sleep   if s odd and s != last woken: wake (its socket)
//   (and every ring, see Server::Impl::prepare_wait)
//   sleep; state = epoch << 1
// Either the server's look after SYNC A sees the producer's record, or the producer sees
// the odd state and wakes it. A producer wakes once per epoch (its wake is in its socket
// until the server reads it, which it does only after the announcement that began the
// epoch), and nobody but the server can change the state, so no client can make another
// skip a wake.
inline void announce_server_sleep(ShmAtomic<std::uint64_t>& state, std::uint64_t& epoch) noexcept {
  ++epoch;
  state.store((epoch << 1) | 1, std::memory_order_relaxed);
  full_fence();  // SYNC A: the store above before the looks that follow
}
inline void end_server_sleep(ShmAtomic<std::uint64_t>& state, std::uint64_t epoch) noexcept {
  state.store(epoch << 1, std::memory_order_relaxed);
}
// Producer side; the caller has just published and done its bitmap fetch_or. Returns true
// when it must wake the server (and remembers the epoch in `woken`).
inline bool server_needs_wake(const ShmAtomic<std::uint64_t>& state,
                              std::uint64_t& woken) noexcept {
  full_fence_after_rmw();  // SYNC B: the publish and the bit before the load of state
  const std::uint64_t s = state.load(std::memory_order_relaxed);
  if ((s & 1) == 0 || s == woken) return false;
  woken = s;
  return true;
}

// Announces that the caller is about to sleep on `wb` until the other side's progress
// reaches `want`. The caller must re-check its condition right after and clear `sleeping`
// if it holds (or when it wakes).
inline void announce_sleep(WaitBlock& wb, std::uint64_t want) noexcept {
  wb.want.store(want, std::memory_order_relaxed);
  // Release: a waker that sees sleeping == 1 also sees this round's `want`.
  wb.sleeping.store(1, std::memory_order_release);
  // SYNC A: orders the `sleeping` store before the caller's re-check; pairs with SYNC B in
  // wake_if_sleeping().
  full_fence();
}

// Waits until ready() is true, following `options`, up to `deadline`. `want` is what the
// waker's progress must reach before a wake is worth a syscall. Returns ok, timed_out, or
// disconnected when `hangup` (see sleep_on) fired: while sleeping, now and then while
// spinning, or by the time the deadline passed (a gone peer is the better answer).
template <class Ready>
Result<void> wait_until(Ready&& ready, WaitBlock& wb, std::uint64_t want, WakeFd wake, int hangup,
                        const WaitOptions& options, const Deadline& deadline) {
  if (ready()) return {};
  if (options.strategy != WaitStrategy::block) {
    const std::int64_t spin_end = options.strategy == WaitStrategy::spin
                                      ? deadline.at()
                                      : monotonic_ns() + options.spin_for.count();
    const std::uint32_t yield_every = options.yield_every == 0 ? 1024 : options.yield_every;
    for (std::uint32_t i = 1;; ++i) {
      if (ready()) return {};
      cpu_relax();
      if (i % yield_every == 0) {
        sched_yield();
        // A spinner never reaches the sleep that watches `hangup`: look now and then.
        if (hangup >= 0 && hung_up(hangup)) return Error(Errc::disconnected);
      }
      if ((i & 63u) == 0) {
        const std::int64_t now = monotonic_ns();
        if (now >= spin_end) {
          if (!deadline.never() && now >= deadline.at()) {
            if (hangup >= 0 && hung_up(hangup)) return Error(Errc::disconnected);
            return Error(Errc::timed_out);
          }
          break;
        }
      }
    }
  }
  for (;;) {
    // Read seq before announcing: a wake after this point changes it (see the top).
    const std::uint32_t seq = wb.seq.load(std::memory_order_acquire);
    announce_sleep(wb, want);
    if (ready()) {
      wb.sleeping.store(0, std::memory_order_relaxed);
      return {};
    }
    std::int64_t timeout_ns = -1;
    if (!deadline.never()) {
      timeout_ns = deadline.remaining(monotonic_ns());
      if (timeout_ns == 0) {
        wb.sleeping.store(0, std::memory_order_relaxed);
        if (hangup >= 0 && hung_up(hangup)) return Error(Errc::disconnected);
        return Error(Errc::timed_out);
      }
    }
    const bool alive = sleep_on(wb, seq, wake, hangup, timeout_ns);
    wb.sleeping.store(0, std::memory_order_relaxed);
    if (ready()) return {};
    if (!alive) return Error(Errc::disconnected);
  }
}

}  // namespace ferry::detail
