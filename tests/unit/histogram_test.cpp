// SPDX-License-Identifier: Apache-2.0
// The tools' latency histogram (tools/common/histogram.hpp) against the exact percentiles
// of the same samples sorted: within the documented bound for both precisions in use, the
// maximum exact, merging the same as adding, encode()/decode() the same histogram.
#include "common/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace ferry::tools {
namespace {

// Nearest-rank percentile of sorted samples, in microseconds.
double exact_us(const std::vector<std::uint64_t>& sorted, double q) {
  const auto rank = std::max<std::size_t>(
      1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size()))));
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

// Samples spread over nine decades (log-uniform, 1 ns to 10 s) and a dense cluster, as
// latencies are.
std::vector<std::uint64_t> samples(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> decades(0.0, 10.0);
  std::normal_distribution<double> cluster(2000.0, 150.0);
  std::vector<std::uint64_t> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = i % 2 == 0 ? std::pow(10.0, decades(rng)) : std::max(0.0, cluster(rng));
    out.push_back(static_cast<std::uint64_t>(v));
  }
  return out;
}

template <class H>
void expect_close_to_oracle(std::uint64_t seed) {
  std::vector<std::uint64_t> all = samples(seed, 200'000);
  H h;
  for (std::uint64_t v : all) h.add(v);
  std::sort(all.begin(), all.end());
  ASSERT_EQ(h.count(), all.size());
  // Half a bucket: 1/2^(B+1) of the value, or half a nanosecond where buckets are 1 ns.
  const double bound = 1.0 / static_cast<double>(2 * H::kSub);
  for (double q : {0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    const double exact = exact_us(all, q);
    const double got = h.quantile_us(q);
    EXPECT_LE(std::abs(got - exact), exact * bound + 0.0005)
        << "q " << q << ": " << got << " us, exact " << exact << " us";
  }
  EXPECT_EQ(h.max_us(), static_cast<double>(all.back()) / 1000.0);
  EXPECT_LE(h.quantile_us(1.0), h.max_us());
}

TEST(LogHistogram, PercentilesAreWithinHalfABucketOfTheSortedSamples) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    expect_close_to_oracle<LogHistogram<7>>(seed);  // ferry bench's
    expect_close_to_oracle<LogHistogram<5>>(seed);  // a coarser one
  }
}

TEST(LogHistogram, EveryValueUpToTheLinearLimitIsExact) {
  LogHistogram<5> h;
  for (std::uint64_t v = 0; v < LogHistogram<5>::kLinear; ++v) h.add(v);
  for (std::uint64_t v = 1; v <= LogHistogram<5>::kLinear; ++v) {
    const double q = static_cast<double>(v) / static_cast<double>(LogHistogram<5>::kLinear);
    EXPECT_DOUBLE_EQ(h.quantile_us(q), static_cast<double>(v - 1) / 1000.0) << v;
  }
}

TEST(LogHistogram, ExtremesAndEmpty) {
  LogHistogram<7> h;
  EXPECT_EQ(h.quantile_us(0.5), 0.0);
  EXPECT_EQ(h.max_us(), 0.0);
  h.add(UINT64_MAX);
  h.add(0);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.quantile_us(0.5), 0.0);
  EXPECT_EQ(h.max_us(), static_cast<double>(UINT64_MAX) / 1000.0);
  EXPECT_LE(h.quantile_us(1.0), h.max_us());
}

TEST(LogHistogram, MergingIsAddingAndTextCarriesItWhole) {
  const std::vector<std::uint64_t> a = samples(7, 5000);
  const std::vector<std::uint64_t> b = samples(8, 3000);
  LogHistogram<7> ha;
  LogHistogram<7> hb;
  LogHistogram<7> both;
  for (std::uint64_t v : a) ha.add(v), both.add(v);
  for (std::uint64_t v : b) hb.add(v), both.add(v);
  ha.merge(hb);
  EXPECT_EQ(ha.encode(), both.encode());
  auto back = LogHistogram<7>::decode(both.encode());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->encode(), both.encode());
  EXPECT_EQ(back->count(), both.count());
  for (double q : {0.5, 0.99, 1.0}) EXPECT_EQ(back->quantile_us(q), both.quantile_us(q));
  // Anything else is refused.
  for (const char* bad :
       {"", "12", "x/1:1", "12/1", "12/1:", "12/1:x", "12/99999999:1", "12/1:1,", "12/1:1;2:2"}) {
    EXPECT_FALSE(LogHistogram<7>::decode(bad)) << bad;
  }
  EXPECT_TRUE(LogHistogram<7>::decode("12/"));  // empty, as encode() writes it
}

}  // namespace
}  // namespace ferry::tools
