// SPDX-License-Identifier: Apache-2.0
// The receivers' order check (tools/common/sequence.hpp): each kind of fault counted as
// what it is, and random streams with drops, repeats and swaps against a count made the
// slow way.
#include "common/sequence.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace ferry::tools {
namespace {

using Counts = SequenceTracker::Counts;

void expect_counts(const SequenceTracker& t, Counts want) {
  const Counts got = t.counts();
  EXPECT_EQ(got.lost, want.lost);
  EXPECT_EQ(got.duplicated, want.duplicated);
  EXPECT_EQ(got.reordered, want.reordered);
  EXPECT_EQ(got.unexpected, want.unexpected);
}

TEST(SequenceTracker, EachFaultIsCountedAsWhatItIs) {
  {
    SequenceTracker t(2);
    for (std::uint64_t s = 0; s < 100; ++s) t.on_message(0, s), t.on_message(1, s);
    t.on_end(0, 100);
    EXPECT_FALSE(t.all_ended());
    t.on_end(1, 100);
    EXPECT_TRUE(t.all_ended());
    expect_counts(t, {});
  }
  {  // 2 arrives after 3: reordered, nothing lost
    SequenceTracker t(1);
    for (std::uint64_t s : {0u, 1u, 3u, 2u, 4u}) t.on_message(0, s);
    t.on_end(0, 5);
    expect_counts(t, {0, 0, 1, 0});
  }
  {  // 2 never arrives, 3 twice, the end says 7 were sent (5 and 6 never came)
    SequenceTracker t(1);
    for (std::uint64_t s : {0u, 1u, 3u, 4u, 3u}) t.on_message(0, s);
    t.on_end(0, 7);
    expect_counts(t, {3, 1, 0, 0});
  }
  {  // an unknown sender, a message after the end, a second end, numbers beyond the end
    SequenceTracker t(1);
    t.on_message(5, 0);
    for (std::uint64_t s : {0u, 1u, 2u, 4u}) t.on_message(0, s);  // 3 missing
    t.on_end(0, 3);                                               // 4 was never sent
    t.on_message(0, 3);
    t.on_end(0, 3);
    expect_counts(t, {0, 0, 0, 4});
  }
  {  // a gap too large to remember is lost at once; its numbers then count as repeats
    SequenceTracker t(1);
    const std::uint64_t far = SequenceTracker::kMaxGap + 10;
    t.on_message(0, far);
    t.on_message(0, 5);
    t.on_end(0, far + 1);
    expect_counts(t, {far, 1, 0, 0});
  }
}

// The slow way: what arrived, as a multiset, against what was sent.
Counts oracle(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& arrivals,
              std::uint32_t senders, std::uint64_t sent) {
  Counts c;
  for (std::uint32_t who = 0; who < senders; ++who) {
    std::set<std::uint64_t> seen;
    std::uint64_t high = 0;  // one past the highest seen
    for (const auto& [w, seq] : arrivals) {
      if (w != who) continue;
      if (!seen.insert(seq).second) {
        ++c.duplicated;
      } else if (seq < high) {
        ++c.reordered;
      }
      high = std::max(high, seq + 1);
    }
    c.lost += sent - seen.size();
  }
  return c;
}

TEST(SequenceTracker, RandomStreamsMatchACountMadeTheSlowWay) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200; ++round) {
    const std::uint32_t senders = 1 + rng() % 4;
    const std::uint64_t sent = rng() % 300;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> arrivals;
    for (std::uint32_t who = 0; who < senders; ++who) {
      for (std::uint64_t s = 0; s < sent; ++s) {
        const auto roll = rng() % 100;
        if (roll < 5) continue;  // dropped
        arrivals.emplace_back(who, s);
        if (roll < 8) arrivals.emplace_back(who, s);  // repeated
      }
    }
    for (std::size_t i = 0; i + 1 < arrivals.size(); ++i) {
      if (rng() % 100 < 5)
        std::swap(arrivals[i],
                  arrivals[i + 1 + rng() % std::min<std::size_t>(5, arrivals.size() - i - 1)]);
    }
    SequenceTracker t(senders);
    for (const auto& [who, seq] : arrivals) t.on_message(who, seq);
    for (std::uint32_t who = 0; who < senders; ++who) t.on_end(who, sent);
    SCOPED_TRACE(testing::Message() << "round " << round);
    expect_counts(t, oracle(arrivals, senders, sent));
  }
}

}  // namespace
}  // namespace ferry::tools
