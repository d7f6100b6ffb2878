// SPDX-License-Identifier: Apache-2.0
// tools/common/histogram.hpp: latency samples (nanoseconds) in a log-linear histogram, for
// ferry bench and the demo (which runs the bench's participants).
//
// LogHistogram<B>: below 2^(B+1) ns every value has its own bucket; above, each power of two
// is split into 2^B buckets, so a bucket is at most 1/2^B of its lower bound wide and a
// percentile (reported at its bucket's middle, never above the maximum) is within 1/2^(B+1)
// of the exact one. The maximum is kept exactly. A fixed array and nothing else, so that it
// can live in memory shared between processes; encode()/decode() carry one as text.
// ferry bench uses B = 7 (within 0.4%, 59 KiB); the tests check other B against a sorted
// array.
// Thread-safety: a plain value.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/number.hpp"

namespace ferry::tools {

template <unsigned SubBits>
class LogHistogram {
 public:
  static constexpr std::size_t kSub = std::size_t{1} << SubBits;  // buckets per power of two
  static constexpr std::size_t kLinear = 2 * kSub;  // below: one bucket per nanosecond
  static constexpr std::size_t kBuckets = kLinear + (64 - (SubBits + 1)) * kSub;

  void add(std::uint64_t ns) noexcept {
    ++buckets_[bucket_of(ns)];  // NOLINT(cppcoreguidelines-pro-bounds-constant-array-index)
    ++count_;
    max_ = std::max(max_, ns);
  }
  void merge(const LogHistogram& other) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];  // NOLINT
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  std::uint64_t count() const noexcept { return count_; }
  // The q-quantile (0 < q <= 1, nearest rank) in microseconds; 0 when empty.
  double quantile_us(double q) const noexcept {
    if (count_ == 0) return 0;
    const auto rank = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];  // NOLINT(cppcoreguidelines-pro-bounds-constant-array-index)
      if (seen >= rank) return std::min(middle_of(i), static_cast<double>(max_)) / 1000.0;
    }
    return max_us();
  }
  double max_us() const noexcept { return static_cast<double>(max_) / 1000.0; }

  // "max/index:count,index:count,..." (buckets with samples only).
  std::string encode() const {
    std::string out = std::to_string(max_) + "/";
    bool first = true;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      if (buckets_[i] == 0) continue;  // NOLINT(cppcoreguidelines-pro-bounds-constant-array-index)
      if (!first) out += ',';
      first = false;
      out += std::to_string(i) + ':' + std::to_string(buckets_[i]);  // NOLINT
    }
    return out;
  }
  // What encode() wrote, or nullopt if `text` is anything else.
  static std::optional<LogHistogram> decode(std::string_view text) {
    const std::size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto max = parse_number<std::uint64_t>(text.substr(0, slash));
    if (!max) return std::nullopt;
    LogHistogram h;
    std::string_view rest = text.substr(slash + 1);
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (comma != std::string_view::npos && rest.empty()) return std::nullopt;  // "...,"
      const std::size_t colon = item.find(':');
      if (colon == std::string_view::npos) return std::nullopt;
      auto index = parse_number<std::uint64_t>(item.substr(0, colon));
      auto n = parse_number<std::uint64_t>(item.substr(colon + 1));
      if (!index || !n || *index >= kBuckets) return std::nullopt;
      h.buckets_[*index] += *n;  // NOLINT(cppcoreguidelines-pro-bounds-constant-array-index)
      h.count_ += *n;
    }
    h.max_ = *max;
    return h;
  }

 private:
  static std::size_t bucket_of(std::uint64_t ns) noexcept {
    if (ns < kLinear) return static_cast<std::size_t>(ns);
    const auto e = static_cast<std::size_t>(std::bit_width(ns) - 1);  // SubBits + 1 .. 63
    const auto sub = static_cast<std::size_t>((ns >> (e - SubBits)) & (kSub - 1));
    return kLinear + (e - (SubBits + 1)) * kSub + sub;
  }
  static double middle_of(std::size_t bucket) noexcept {
    if (bucket < kLinear) return static_cast<double>(bucket);
    const std::size_t e = SubBits + 1 + (bucket - kLinear) / kSub;
    const std::size_t sub = (bucket - kLinear) % kSub;
    const double width = std::ldexp(1.0, static_cast<int>(e - SubBits));
    return (static_cast<double>(kSub + sub) + 0.5) * width;
  }
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t buckets_[kBuckets] = {};
};

}  // namespace ferry::tools
