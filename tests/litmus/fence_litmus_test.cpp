// SPDX-License-Identifier: Apache-2.0
// The store-buffer litmus test of the wake-up protocol (src/wait/waiting.hpp). A sleeper
// stores "I sleep" and then loads the other side's progress; a waker stores its progress and
// then loads "does it sleep". Without a full fence between each store and the load after it,
// a CPU may let both loads pass their stores (x86 does: a store waits in the store buffer),
// both sides miss each other and the wake-up is lost. The wake-up stress test rarely lines
// the two up that closely (it hands off whole messages, with syscalls in between), so this
// test does nothing else: two threads, started together millions of times, each running
// the protocol's own functions once per round, and every round's outcome counted.
//
// Built twice: ferry_fence_litmus_test with the fences, where "neither saw the other" must
// never happen, and ferry_fence_litmus_control with FERRY_NEGATIVE_CONTROL_WITHOUT_FENCES,
// where the same code without its fences must be caught missing a wake-up. Neither binary
// links the library: the protocol's functions are inline in waiting.hpp, so each binary has
// its own copy and the control's fence-less one cannot mix with the library's.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "support/test_support.hpp"
#include "wait/waiting.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

#if defined(FERRY_NEGATIVE_CONTROL_WITHOUT_FENCES)
constexpr bool kFences = false;
#else
constexpr bool kFences = true;
#endif

constexpr std::uint64_t kRoundsPerBatch = 1'000'000;

// Two threads meet before every round: each counts the rounds it has reached and waits for
// the other's count. Spins (a round is a few hundred nanoseconds), yielding now and then so
// a thread whose partner is off the CPU lets it run.
class Rendezvous {
 public:
  void meet(int side, std::uint64_t round) noexcept {
    reached_[side].v.store(round, std::memory_order_release);
    for (unsigned spins = 1; reached_[1 - side].v.load(std::memory_order_acquire) < round;
         ++spins) {
      detail::cpu_relax();
      if (spins % 1024 == 0) sched_yield();
    }
  }

 private:
  struct alignas(64) Count {
    std::atomic<std::uint64_t> v{0};
  };
  Count reached_[2];
};

// How many rounds ended each way: whether the sleeper's look saw the waker's store, and
// whether the waker's look saw the sleeper's.
struct Outcomes {
  std::uint64_t both = 0;
  std::uint64_t sleeper_saw = 0;  // the sleeper sees the work and stays up
  std::uint64_t waker_saw = 0;    // the waker sees the sleeper and wakes it
  std::uint64_t neither = 0;      // the lost wake-up
  std::uint64_t rounds() const { return both + sleeper_saw + waker_saw + neither; }
};

void pin_to_cpu(std::size_t cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // Best effort: the test is valid unpinned, the threads just meet less often in parallel.
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Runs `rounds` rounds: `sleeper(round)` on one thread and `waker(round)` on another, both
// started at once; each returns whether it saw the other's store. Once both are done,
// `settle()` on the sleeper's thread undoes the round (a real sleeper stays asleep until
// woken, so nothing may be undone while the waker may still look).
template <class Sleeper, class Waker, class Settle>
Outcomes run_rounds(std::uint64_t first, std::uint64_t rounds, Sleeper& sleeper, Waker& waker,
                    Settle& settle) {
  std::vector<std::uint8_t> slept_saw(rounds);
  std::vector<std::uint8_t> woke_saw(rounds);
  Rendezvous rendezvous;
  std::thread other([&] {
    pin_to_cpu(1);
    for (std::uint64_t i = 0; i < rounds; ++i) {
      rendezvous.meet(1, 2 * i + 1);
      woke_saw[i] = waker(first + i) ? 1 : 0;
      rendezvous.meet(1, 2 * i + 2);
    }
  });
  pin_to_cpu(0);
  for (std::uint64_t i = 0; i < rounds; ++i) {
    rendezvous.meet(0, 2 * i + 1);
    slept_saw[i] = sleeper(first + i) ? 1 : 0;
    rendezvous.meet(0, 2 * i + 2);
    settle();
  }
  other.join();
  Outcomes out;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    if (slept_saw[i] != 0 && woke_saw[i] != 0) ++out.both;
    if (slept_saw[i] != 0 && woke_saw[i] == 0) ++out.sleeper_saw;
    if (slept_saw[i] == 0 && woke_saw[i] != 0) ++out.waker_saw;
    if (slept_saw[i] == 0 && woke_saw[i] == 0) ++out.neither;
  }
  return out;
}

// With the fences: kBatches batches, and no round may lose the wake-up. Without them: batches
// until one round does (it takes well under a batch on x86), at most kControlBatches.
template <class Sleeper, class Waker, class Settle>
void check_protocol(const char* name, Sleeper sleeper, Waker waker, Settle settle) {
  const std::uint64_t batches = kFences ? test::scaled(4) : 50;
  Outcomes total;
  for (std::uint64_t b = 0; b < batches; ++b) {
    const Outcomes o = run_rounds(total.rounds() + 1, kRoundsPerBatch, sleeper, waker, settle);
    total.both += o.both;
    total.sleeper_saw += o.sleeper_saw;
    total.waker_saw += o.waker_saw;
    total.neither += o.neither;
    if (!kFences && total.neither > 0) break;
  }
  std::printf(
      "%s (%s): %llu rounds: both saw %llu, only the sleeper %llu, only the waker %llu, "
      "neither (lost) %llu\n",
      name, kFences ? "with fences" : "fences removed",
      static_cast<unsigned long long>(total.rounds()), static_cast<unsigned long long>(total.both),
      static_cast<unsigned long long>(total.sleeper_saw),
      static_cast<unsigned long long>(total.waker_saw),
      static_cast<unsigned long long>(total.neither));
  if (kFences) {
    EXPECT_EQ(total.neither, 0u) << "rounds in which sleeper and waker missed each other";
  } else {
    EXPECT_GT(total.neither, 0u) << "the test never caught the protocol without its fences";
  }
}

// Between the two sides of a ring: the consumer announces its sleep in the wait block and
// re-checks the tail; the producer stores the tail and looks at the wait block.
TEST(FenceLitmus, RingSleeperAndWakerNeverMissEachOther) {
  test::Watchdog watchdog(240s, "ring fence litmus");
  struct alignas(64) Tail {
    std::atomic<std::uint64_t> v{0};
  };
  Tail tail;
  detail::WaitBlock wb{};
  check_protocol(
      "ring wait block",
      [&](std::uint64_t round) {
        detail::announce_sleep(wb, round);
        return tail.v.load(std::memory_order_acquire) >= round;
      },
      [&](std::uint64_t round) {
        tail.v.store(round, std::memory_order_release);
        return detail::sleeper_announced(wb);
      },
      [&] { wb.sleeping.store(0, std::memory_order_relaxed); });
}

// Between the server and a client: the server announces its sleep in its sleep word and
// looks at the doorbell; the client stores its tail, rings the doorbell (a read-modify-write,
// which on x86 is the client's fence) and looks at the sleep word.
TEST(FenceLitmus, ServerSleepAndDoorbellNeverMissEachOther) {
  test::Watchdog watchdog(240s, "server fence litmus");
  struct alignas(64) Word {
    detail::ShmAtomic<std::uint64_t> v;
  };
  Word tail;
  Word bell;
  Word state;
  std::uint64_t epoch = 0;  // the server's
  std::uint64_t woken = 0;  // the client's
  check_protocol(
      "server sleep word",
      [&](std::uint64_t /*round*/) {
        detail::announce_server_sleep(state.v, epoch);
        return bell.v.load(std::memory_order_relaxed) != 0;
      },
      [&](std::uint64_t round) {
        tail.v.store(round, std::memory_order_release);
        bell.v.fetch_or(1, std::memory_order_acq_rel);
        return detail::server_needs_wake(state.v, woken);
      },
      [&] {
        detail::end_server_sleep(state.v, epoch);
        bell.v.store(0, std::memory_order_relaxed);
      });
}

}  // namespace
}  // namespace ferry
