// tools/bench/histogram.cpp: the log-linear latency histogram (histogram.hpp).
#include "bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <system_error>

namespace ferry::bench {

std::size_t Histogram::bucket_of(std::uint64_t ns) noexcept {
  if (ns < kLinear) return static_cast<std::size_t>(ns);
  const auto e = static_cast<std::size_t>(63 - std::countl_zero(ns));  // 8..63
  const auto sub = static_cast<std::size_t>((ns >> (e - 7)) & (kSubBuckets - 1));
  return kLinear + (e - 8) * kSubBuckets + sub;
}

double Histogram::middle_of(std::size_t bucket) noexcept {
  if (bucket < kLinear) return static_cast<double>(bucket);
  const std::size_t e = 8 + (bucket - kLinear) / kSubBuckets;
  const std::size_t sub = (bucket - kLinear) % kSubBuckets;
  const double width = std::ldexp(1.0, static_cast<int>(e - 7));
  return static_cast<double>(kSubBuckets + sub) * width + width / 2;
}

void Histogram::add(std::uint64_t ns) {
  if (counts_.empty()) counts_.assign(kBuckets, 0);
  ++counts_[bucket_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

void Histogram::merge(const Histogram& other) {
  if (other.count_ == 0) return;
  if (counts_.empty()) counts_.assign(kBuckets, 0);
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

double Histogram::quantile_us(double q) const noexcept {
  if (count_ == 0) return 0;
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(middle_of(i), static_cast<double>(max_)) / 1000.0;
  }
  return max_us();
}

std::string Histogram::encode() const {
  std::string out = std::to_string(max_) + "/";
  bool first = true;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    if (!first) out += ',';
    first = false;
    out += std::to_string(i);
    out += ':';
    out += std::to_string(counts_[i]);
  }
  return out;
}

std::optional<Histogram> Histogram::decode(std::string_view text) {
  auto number = [](std::string_view s) -> std::optional<std::uint64_t> {
    std::uint64_t v = 0;
    const char* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || ptr != end || s.empty()) return std::nullopt;
    return v;
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto max = number(text.substr(0, slash));
  if (!max) return std::nullopt;
  Histogram h;
  std::string_view rest = text.substr(slash + 1);
  while (!rest.empty()) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto index = number(item.substr(0, colon));
    auto n = number(item.substr(colon + 1));
    if (!index || !n || *index >= kBuckets) return std::nullopt;
    if (h.counts_.empty()) h.counts_.assign(kBuckets, 0);
    h.counts_[*index] += *n;
    h.count_ += *n;
  }
  h.max_ = *max;
  return h;
}

}  // namespace ferry::bench
