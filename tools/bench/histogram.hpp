// tools/bench/histogram.hpp: latency samples in a log-linear histogram.
//
// Values are nanoseconds. Below 256 ns every value has its own bucket; above, each power
// of two is split into 128 buckets, so a bucket is at most 1/128 of its lower bound wide
// and a percentile (reported at the bucket's middle) is within 0.4% of the exact one. The
// maximum is kept exactly. Participants send theirs to the orchestrator as text, which
// merges them: percentiles then come from every sample of every participant.
//
// Thread-safety: a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::bench {

class Histogram {
 public:
  void add(std::uint64_t ns);
  void merge(const Histogram& other);
  std::uint64_t count() const noexcept { return count_; }
  // The q-quantile (0 < q <= 1, nearest rank) in microseconds; 0 when empty.
  double quantile_us(double q) const noexcept;
  double max_us() const noexcept { return static_cast<double>(max_) / 1000.0; }

  // "max/idx:count,idx:count,..." (buckets with samples only).
  std::string encode() const;
  static std::optional<Histogram> decode(std::string_view text);

 private:
  static constexpr std::size_t kLinear = 256;
  static constexpr std::size_t kSubBuckets = 128;  // per power of two, from 2^8 up
  static constexpr std::size_t kBuckets = kLinear + (64 - 8) * kSubBuckets;
  static std::size_t bucket_of(std::uint64_t ns) noexcept;
  static double middle_of(std::size_t bucket) noexcept;

  std::vector<std::uint64_t> counts_;  // empty until the first sample
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace ferry::bench
