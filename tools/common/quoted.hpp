// SPDX-License-Identifier: Apache-2.0
// tools/common/quoted.hpp: how the tools show a user's value in an error message.
// Thread-safety: a plain function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ferry::tools {

// Quoted, cut short if very long, control characters shown as '?'.
inline std::string quoted(std::string_view s) {
  constexpr std::size_t kShown = 80;
  std::string out = "'";
  for (const char c : s.substr(0, kShown)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  out += s.size() > kShown ? "...'" : "'";
  return out;
}

}  // namespace ferry::tools
