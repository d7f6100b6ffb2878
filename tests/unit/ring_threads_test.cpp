// SPDX-License-Identifier: Apache-2.0
// The ring between two threads of one process: what ThreadSanitizer checks. Random record
// sizes, every byte verified, each wait strategy, futex and eventfd wake-ups, and a tiny
// ring so both sides keep hitting full and empty.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "ferry/ring.hpp"
#include "ring/ring_layout.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

struct Params {
  WaitStrategy strategy;
  bool eventfd;
};

class RingThreads : public ::testing::TestWithParam<Params> {};

TEST_P(RingThreads, EveryRecordArrivesIntactAndInOrder) {
  const Params params = GetParam();
  RingConfig cfg;
  cfg.capacity = 8192;
  test::SharedRing ring(cfg);
  RingWakeFds fds;
  if (params.eventfd) {
    fds.data = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    fds.space = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ASSERT_GE(fds.data, 0);
    ASSERT_GE(fds.space, 0);
  }
  WaitOptions w;
  w.strategy = params.strategy;
  w.spin_for = 5us;
  auto p = ring.producer(w, fds);
  auto c = ring.consumer(w, fds);
  const std::uint64_t count = test::scaled(200000);
  test::Watchdog dog(120s, "RingThreads." + std::string(to_string(params.strategy)));

  std::atomic<bool> producer_ok{true};
  std::thread producer([&] {
    for (std::uint64_t seq = 0; seq < count; ++seq) {
      const std::size_t n = test::pattern_size(seq, p.max_payload());
      auto room = p.reserve(n, kForever);
      if (!room) {
        producer_ok = false;
        return;
      }
      test::fill_pattern(*room, seq);
      // Every 7th record is staged and published with the next one: batches too.
      p.commit(n, {static_cast<std::uint16_t>(seq)}, seq % 7 == 3 ? Publish::later : Publish::now);
    }
    p.publish();
  });
  std::uint64_t bad = 0;
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    auto v = c.peek(kForever);
    ASSERT_TRUE(v.ok()) << v.error().message();
    if (v->header.seq != seq || v->header.type != static_cast<std::uint16_t>(seq) ||
        v->payload.size() != test::pattern_size(seq, p.max_payload()) ||
        !test::check_pattern(v->payload, seq)) {
      ++bad;
    }
    c.release(seq % 5 == 0 ? Publish::later : Publish::now);
  }
  c.publish();
  producer.join();
  EXPECT_TRUE(producer_ok);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(c.peek().code(), Errc::would_block);
  if (params.eventfd) {
    close(fds.data);
    close(fds.space);
  }
}

INSTANTIATE_TEST_SUITE_P(Strategies, RingThreads,
                         ::testing::Values(Params{WaitStrategy::spin, false},
                                           Params{WaitStrategy::block, false},
                                           Params{WaitStrategy::hybrid, false},
                                           Params{WaitStrategy::block, true},
                                           Params{WaitStrategy::hybrid, true}),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param.strategy)) +
                                  (param_info.param.eventfd ? "_eventfd" : "_futex");
                         });

TEST(RingThreadsWake, BlockedProducerIsWokenWhenSpaceFrees) {
  RingConfig cfg;
  cfg.capacity = 4096;
  test::SharedRing ring(cfg);
  WaitOptions w;
  w.strategy = WaitStrategy::block;
  auto p = ring.producer(w);
  auto c = ring.consumer(w);
  std::vector<std::byte> rec(1000);
  while (p.send(rec).ok()) {
  }
  test::Watchdog dog(30s, "blocked producer wake");
  std::thread t([&] {
    // Only once the producer announced its sleep must freeing space cost a wake-up call.
    const auto& space_wait = static_cast<detail::RingHeader*>(ring.data())->space_wait;
    ASSERT_TRUE(test::wait_for([&] {
      return space_wait.sleeping.load(std::memory_order_acquire) == 1;
    })) << "the producer never went to sleep";
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(c.peek().ok());
      c.release();
    }
  });
  EXPECT_TRUE(p.send(rec, {}, kForever).ok());
  t.join();
  EXPECT_GE(ring_stats(ring.data()).consumer_wakes, 1u);
}

}  // namespace
}  // namespace ferry
