// SPDX-License-Identifier: Apache-2.0
// Numbers from text (tools/common/number.hpp): the whole text is the number, or nothing is.
#include "common/number.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

namespace ferry::tools {
namespace {

TEST(Number, WholeNumbersInRangeOnly) {
  EXPECT_EQ(parse_number<std::uint64_t>("0"), 0U);
  EXPECT_EQ(parse_number<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_number<std::uint32_t>("4294967295"), UINT32_MAX);
  EXPECT_EQ(parse_number<int>("-1"), -1);
  for (const char* bad :
       {"", " 1", "1 ", "+1", "-1", "1x", "0x10", "1.0", "18446744073709551616"}) {
    EXPECT_EQ(parse_number<std::uint64_t>(bad), std::nullopt) << "'" << bad << "'";
  }
  EXPECT_EQ(parse_number<std::uint32_t>("4294967296"), std::nullopt);
}

TEST(Number, RealNumbersMustBeFinite) {
  EXPECT_EQ(parse_real("0.5"), 0.5);
  EXPECT_EQ(parse_real("1e6"), 1e6);
  EXPECT_EQ(parse_real("32000"), 32000.0);
  EXPECT_EQ(parse_real("-2"), -2.0);
  for (const char* bad : {"", "inf", "nan", "1e400", "1,5", " 1", "1s"}) {
    EXPECT_EQ(parse_real(bad), std::nullopt) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace ferry::tools
