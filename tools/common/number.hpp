// SPDX-License-Identifier: Apache-2.0
// tools/common/number.hpp: numbers from text, for command lines, config files and the
// bench's result lines. The whole text must be the number: no spaces, nothing after it.
// Thread-safety: plain functions.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <system_error>

namespace ferry::tools {

// An integer of type T in decimal ("42"; "-1" only for a signed T), or nullopt when the
// text is empty, has anything else in it, or is out of T's range.
template <class T>
std::optional<T> parse_number(std::string_view text) noexcept {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// A finite real number ("0.5", "1e6", "32000"), or nullopt.
inline std::optional<double> parse_real(std::string_view text) noexcept {
  const auto value = parse_number<double>(text);
  if (!value || !std::isfinite(*value)) return std::nullopt;
  return value;
}

}  // namespace ferry::tools
