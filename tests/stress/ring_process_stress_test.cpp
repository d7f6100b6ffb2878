// SPDX-License-Identifier: Apache-2.0
// Producer and consumer in separate processes over real shared memory: millions of
// records of random sizes, every byte checked, for each wait strategy.
#include <gtest/gtest.h>

#include "ferry/ring.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

class RingProcesses : public ::testing::TestWithParam<WaitStrategy> {};

TEST_P(RingProcesses, MillionsOfRandomRecordsEveryByteChecked) {
  RingConfig cfg;
  cfg.capacity = 1u << 16;
  test::SharedRing ring(cfg);
  WaitOptions w;
  w.strategy = GetParam();
  const std::uint64_t count = test::scaled(2'000'000);
  const std::size_t max = ring.consumer().max_payload();

  const pid_t child = test::fork_child([&] {
    auto p = ring.producer(w);
    for (std::uint64_t seq = 0; seq < count; ++seq) {
      const std::size_t n = test::pattern_size(seq, max);
      auto room = p.reserve(n, 30s);
      if (!room) return 1;
      test::fill_pattern(*room, seq);
      p.commit(n, {}, seq % 16 == 15 ? Publish::now : Publish::later);
    }
    p.publish();
    return 0;
  });
  test::Watchdog dog(150s, "process stress", [child] { kill(child, SIGKILL); });

  auto c = ring.consumer(w);
  std::uint64_t bad = 0;
  std::uint64_t bytes = 0;
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    auto v = c.peek(30s);
    ASSERT_TRUE(v.ok()) << "record " << seq << ": " << v.error().message();
    bytes += v->payload.size();
    if (v->header.seq != seq || v->payload.size() != test::pattern_size(seq, max) ||
        !test::check_pattern(v->payload, seq)) {
      ++bad;
    }
    c.release(seq % 8 == 7 ? Publish::now : Publish::later);
  }
  c.publish();
  EXPECT_EQ(test::wait_child(child), 0);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(c.peek().code(), Errc::would_block);
  const RingStats s = ring_stats(ring.data());
  EXPECT_EQ(s.records_sent, count);
  EXPECT_EQ(s.bytes_sent, bytes);
  EXPECT_EQ(s.errors, 0u);
  std::printf(
      "%s: %llu records, %llu payload bytes, wake syscalls %llu (producer) + %llu (consumer)\n",
      std::string(to_string(GetParam())).c_str(), static_cast<unsigned long long>(count),
      static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(s.producer_wakes),
      static_cast<unsigned long long>(s.consumer_wakes));
}

INSTANTIATE_TEST_SUITE_P(Strategies, RingProcesses,
                         ::testing::Values(WaitStrategy::hybrid, WaitStrategy::block,
                                           WaitStrategy::spin),
                         [](const auto& param_info) {
                           return std::string(to_string(param_info.param));
                         });

}  // namespace
}  // namespace ferry
