// SPDX-License-Identifier: Apache-2.0
// A producer killed with SIGKILL at random points, mostly between reserve and commit:
// the consumer must see every record published before the kill, intact and in order,
// and nothing else (no torn or half-written record, no error).
#include <gtest/gtest.h>

#include <atomic>
#include <random>

#include "ferry/ring.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

TEST(RingCrash, KilledProducerLeavesOnlyWholeRecords) {
  const std::uint64_t rounds = test::scaled(300);
  std::mt19937_64 rng(std::random_device{}());
  test::Watchdog dog(240s, "crash test");
  std::uint64_t total_seen = 0;
  for (std::uint64_t round = 0; round < rounds; ++round) {
    RingConfig cfg;
    cfg.capacity = 1u << 15;
    test::SharedRing ring(cfg);
    // The child's own record of what it has published: written after each publish, so
    // it can only lag behind the ring (by at most one batch), never run ahead.
    test::SharedBlock side(64);
    auto* published = new (side.data()) std::atomic<std::uint64_t>(0);
    const std::size_t max = ring.consumer().max_payload();
    const std::uint64_t seed = rng();

    const pid_t child = test::fork_child([&] {
      auto p = ring.producer();
      std::mt19937_64 crng(seed);
      for (std::uint64_t seq = 0;; ++seq) {
        const std::size_t n = test::pattern_size(seq, max);
        auto room = p.reserve(n, 10s);
        if (!room) return 1;
        // Scribble a plausible header-shaped pattern first, then the real bytes, slowly:
        // most of the child's time is spent between reserve and commit.
        std::memset(room->data(), 0x5a, room->size());
        test::fill_pattern(*room, seq);
        const bool batch = crng() % 4 == 0;
        p.commit(n, {}, batch ? Publish::later : Publish::now);
        if (!batch) published->store(seq + 1, std::memory_order_release);
      }
    });

    auto c = ring.consumer();
    std::uint64_t seen = 0;
    auto check = [&](const RecordView& v) {
      ASSERT_EQ(v.header.seq, seen);
      ASSERT_EQ(v.payload.size(), test::pattern_size(seen, max));
      ASSERT_TRUE(test::check_pattern(v.payload, seen)) << "record " << seen;
      ++seen;
    };
    // Consume while the child runs, for a random while, then kill it mid-flight.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 3000);
    while (std::chrono::steady_clock::now() < until) {
      auto n = c.drain(check);
      ASSERT_TRUE(n.ok()) << n.error().message();
    }
    kill(child, SIGKILL);
    ASSERT_EQ(test::wait_child(child), 128 + SIGKILL);
    const std::uint64_t floor = published->load(std::memory_order_acquire);
    auto n = c.drain(check);
    ASSERT_TRUE(n.ok()) << "round " << round << ": " << n.error().message();
    ASSERT_EQ(c.peek().code(), Errc::would_block);
    // Everything the child knew it had published arrived; at most the batch in flight
    // (records staged after the last recorded publish) more.
    ASSERT_GE(seen, floor) << "round " << round;
    ASSERT_LE(seen, ring_stats(ring.data()).records_sent);
    total_seen += seen;
  }
  std::printf("%llu rounds, %llu records checked\n", static_cast<unsigned long long>(rounds),
              static_cast<unsigned long long>(total_seen));
}

}  // namespace
}  // namespace ferry
