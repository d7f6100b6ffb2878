// SPDX-License-Identifier: Apache-2.0
// assertions.hpp: gtest assertions shared by ferry's tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "ferry/result.hpp"

namespace ferry::test {

// Passes when `result` failed with `code` and a message that contains `needle`:
//   EXPECT_TRUE(fails_with(r, Errc::permission, "chmod 700"));
template <class T>
::testing::AssertionResult fails_with(const Result<T>& result, Errc code,
                                      std::string_view needle = {}) {
  if (result.ok()) {
    return ::testing::AssertionFailure() << "succeeded, expected " << to_string(code);
  }
  const std::string message = result.error().message();
  if (result.code() != code || message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure()
           << "got " << to_string(result.code()) << " \"" << message << "\", expected "
           << to_string(code) << " mentioning \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ferry::test
