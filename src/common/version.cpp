// SPDX-License-Identifier: Apache-2.0
// ferry::version() (ferry/version.hpp, generated from cmake/version.hpp.in).
#include "ferry/version.hpp"

namespace ferry {

std::string_view version() noexcept {
  return FERRY_VERSION_STRING;
}

}  // namespace ferry
