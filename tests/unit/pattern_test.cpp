// SPDX-License-Identifier: Apache-2.0
// The payload pattern of the tools and tests (tools/common/pattern.hpp): what fill_pattern()
// writes check_pattern() accepts, and any one byte changed, a wrong key, a wrong first word
// number or a shifted span is caught, for every length around the word size.
#include "common/pattern.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ferry::tools {
namespace {

TEST(Pattern, EveryChangedByteIsCaught) {
  for (std::size_t size = 0; size <= 41; ++size) {
    for (std::size_t first : {std::size_t{0}, std::size_t{3}, std::size_t{4}}) {
      const std::uint64_t key = pattern_key(7, 1000 + size);
      std::vector<std::byte> b(size);
      fill_pattern(b, key, first);
      ASSERT_TRUE(check_pattern(b, key, first)) << size << " bytes from word " << first;
      for (std::size_t i = 0; i < size; ++i) {
        for (unsigned bit = 0; bit < 8; ++bit) {
          b[i] ^= std::byte{1} << bit;
          EXPECT_FALSE(check_pattern(b, key, first))
              << "bit " << bit << " of byte " << i << " of " << size;
          b[i] ^= std::byte{1} << bit;
        }
      }
      if (size == 0) continue;
      EXPECT_FALSE(check_pattern(b, key ^ 1, first)) << "another key, " << size << " bytes";
      EXPECT_FALSE(check_pattern(b, key, first + 1)) << "another first word, " << size;
    }
  }
}

TEST(Pattern, KeysDifferForEverySenderAndNumber) {
  EXPECT_NE(pattern_key(0, 0), pattern_key(1, 0));
  EXPECT_NE(pattern_key(0, 0), pattern_key(0, 1));
  EXPECT_NE(pattern_key(1, 2), pattern_key(2, 1));
  // A message from another sender or with another number is not the pattern of this one.
  std::vector<std::byte> b(64);
  fill_pattern(b, pattern_key(3, 9));
  EXPECT_FALSE(check_pattern(b, pattern_key(3, 10)));
  EXPECT_FALSE(check_pattern(b, pattern_key(4, 9)));
}

TEST(Pattern, AHeaderOfWholeWordsKeepsTheWordNumbers) {
  // The words after a 3-word header are words 3.. of the whole span's pattern.
  const std::uint64_t key = pattern_key(1, 1);
  std::vector<std::byte> whole(80);
  fill_pattern(whole, key);
  std::vector<std::byte> body(56);
  fill_pattern(body, key, 3);
  EXPECT_EQ(std::vector<std::byte>(whole.begin() + 24, whole.end()), body);
  EXPECT_TRUE(check_pattern(std::span<const std::byte>(whole).subspan(24), key, 3));
  EXPECT_FALSE(check_pattern(std::span<const std::byte>(whole).subspan(16, 56), key, 3));
}

}  // namespace
}  // namespace ferry::tools
