// SPDX-License-Identifier: Apache-2.0
// tools/common/traceparent.cpp: W3C trace context (traceparent.hpp).
#include "common/traceparent.hpp"

#include <algorithm>
#include <random>

namespace ferry::tools {

bool is_traceparent(std::string_view t) noexcept {
  if (t.size() != 55 || t[2] != '-' || t[35] != '-' || t[52] != '-') return false;
  const auto hex = [&](std::size_t from, std::size_t n) {
    return std::all_of(t.begin() + static_cast<std::ptrdiff_t>(from),
                       t.begin() + static_cast<std::ptrdiff_t>(from + n),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  const bool zero_trace = t.substr(3, 32) == std::string(32, '0');
  const bool zero_span = t.substr(36, 16) == std::string(16, '0');
  return hex(0, 2) && t.substr(0, 2) != "ff" && hex(3, 32) && hex(36, 16) && hex(53, 2) &&
         !zero_trace && !zero_span;
}

std::string new_traceparent() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  constexpr char kHex[] = "0123456789abcdef";
  std::string t = "00-00000000000000000000000000000000-0000000000000000-01";
  const auto digits = [&](std::size_t from, std::size_t n) {  // never all zeros
    for (std::size_t i = 0; i < n; i += 16) {
      std::uint64_t v = rng();
      for (std::size_t j = i; j < i + 16 && j < n; ++j, v >>= 4) t[from + j] = kHex[v & 15];
    }
    if (t.find_first_not_of('0', from) >= from + n) t[from + n - 1] = '1';
  };
  digits(3, 32);
  digits(36, 16);
  return t;
}

std::string_view trace_id(std::string_view traceparent) noexcept {
  return traceparent.size() >= 35 ? traceparent.substr(3, 32) : std::string_view{};
}

}  // namespace ferry::tools
