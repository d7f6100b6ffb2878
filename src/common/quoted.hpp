// SPDX-License-Identifier: Apache-2.0
// quoted.hpp: how the library shows a caller's value in an error message.
// Thread-safety: a plain function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ferry::detail {

// Quoted, cut short if very long, control characters shown as '?'.
inline std::string quoted(std::string_view s) {
  constexpr std::size_t kShown = 80;
  std::string out = "'";
  for (const char c : s.substr(0, kShown)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  out += s.size() > kShown ? "...'" : "'";
  return out;
}

}  // namespace ferry::detail
