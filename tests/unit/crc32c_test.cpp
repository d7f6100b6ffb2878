// SPDX-License-Identifier: Apache-2.0
// Tests for ferry::crc32c and the implementations behind it (crc/crc32c_impl.hpp).
#include "ferry/crc32c.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "crc/crc32c_impl.hpp"

namespace {

using Fn = std::uint32_t (*)(const void*, std::size_t, std::uint32_t) noexcept;

struct Impl {
  const char* name;
  Fn fn;
};

std::uint32_t public_crc32c(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  return ferry::crc32c(data, size, crc);
}

// The implementations this machine can run.
std::vector<Impl> impls() {
  std::vector<Impl> v{{"public", public_crc32c}, {"portable", ferry::detail::crc32c_portable}};
  if (ferry::detail::crc32c_hw_available()) v.push_back({"hw", ferry::detail::crc32c_hw});
  return v;
}

std::vector<unsigned char> random_bytes(std::size_t size, std::mt19937_64& rng) {
  std::vector<unsigned char> v(size);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

TEST(Crc32c, CheckValue) {
  for (const Impl& impl : impls()) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn("123456789", 9, 0), 0xE3069283u);
    EXPECT_EQ(impl.fn(nullptr, 0, 0), 0u);
    EXPECT_EQ(impl.fn(nullptr, 0, 0x12345678u), 0x12345678u);
  }
  EXPECT_EQ(ferry::crc32c("123456789", 9), 0xE3069283u);  // the default argument
}

// RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, IscsiVectors) {
  std::array<unsigned char, 32> zeros{};
  std::array<unsigned char, 32> ones{};
  std::array<unsigned char, 32> ascending{};
  std::array<unsigned char, 32> descending{};
  ones.fill(0xff);
  std::iota(ascending.begin(), ascending.end(), static_cast<unsigned char>(0));
  std::iota(descending.rbegin(), descending.rend(), static_cast<unsigned char>(0));
  for (const Impl& impl : impls()) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.fn(zeros.data(), zeros.size(), 0), 0x8A9136AAu);
    EXPECT_EQ(impl.fn(ones.data(), ones.size(), 0), 0x62A8AB43u);
    EXPECT_EQ(impl.fn(ascending.data(), ascending.size(), 0), 0x46DD794Eu);
    EXPECT_EQ(impl.fn(descending.data(), descending.size(), 0), 0x113FDB5Cu);
  }
}

TEST(Crc32c, HwAvailableOnThisMachine) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("sse4.2") || !__builtin_cpu_supports("pclmul")) GTEST_SKIP();
  EXPECT_TRUE(ferry::detail::crc32c_hw_available());
#else
  GTEST_SKIP() << "only checked on x86-64";
#endif
}

// Every size up to 2 KiB and around the ends of the x86 code's 6 KiB passes, at every
// alignment mod 8; the data ends where the vector ends, so ASan catches reads past it.
TEST(Crc32c, AllImplementationsAgreeOnEverySizeAndAlignment) {
  std::mt19937_64 rng(1);
  const std::vector<Impl> all = impls();
  std::vector<std::size_t> sizes(2049);
  std::iota(sizes.begin(), sizes.end(), std::size_t{0});
  for (const std::size_t pass_end : {std::size_t{6144}, std::size_t{12288}}) {
    for (std::size_t size = pass_end - 64; size <= pass_end + 64; ++size) sizes.push_back(size);
  }
  for (const std::size_t size : sizes) {
    for (std::size_t align = 0; align < 8; ++align) {
      const std::vector<unsigned char> buf = random_bytes(align + size, rng);
      const unsigned char* data = buf.data() + align;
      const std::uint32_t seed = static_cast<std::uint32_t>(rng());
      const std::uint32_t expected = ferry::detail::crc32c_portable(data, size, seed);
      for (const Impl& impl : all) {
        ASSERT_EQ(impl.fn(data, size, seed), expected)
            << impl.name << " size " << size << " align " << align;
      }
    }
  }
}

TEST(Crc32c, AllImplementationsAgreeOnRandomBuffers) {
  std::mt19937_64 rng(2);
  const std::vector<Impl> all = impls();
  for (int round = 0; round < 300; ++round) {
    const std::size_t size = std::uniform_int_distribution<std::size_t>(0, 70000)(rng);
    const std::size_t align = std::uniform_int_distribution<std::size_t>(0, 63)(rng);
    const std::vector<unsigned char> buf = random_bytes(align + size, rng);
    const unsigned char* data = buf.data() + align;
    const std::uint32_t expected = ferry::detail::crc32c_portable(data, size, 0);
    for (const Impl& impl : all) {
      ASSERT_EQ(impl.fn(data, size, 0), expected)
          << impl.name << " size " << size << " align " << align;
    }
  }
}

TEST(Crc32c, ChainingAtEverySplitPoint) {
  std::mt19937_64 rng(3);
  const std::vector<Impl> all = impls();
  for (const std::size_t size : {std::size_t{100}, std::size_t{1000}, std::size_t{7000}}) {
    const std::vector<unsigned char> buf = random_bytes(size, rng);
    const std::uint32_t whole = ferry::crc32c(buf.data(), size);
    for (const Impl& impl : all) {
      for (std::size_t split = 0; split <= size; ++split) {
        const std::uint32_t head = impl.fn(buf.data(), split, 0);
        ASSERT_EQ(impl.fn(buf.data() + split, size - split, head), whole)
            << impl.name << " size " << size << " split " << split;
      }
    }
  }
}

// The three-stream loop must not depend on how a long buffer is cut into calls.
TEST(Crc32c, ChainingManySmallPieces) {
  std::mt19937_64 rng(4);
  const std::vector<unsigned char> buf = random_bytes(100000, rng);
  const std::uint32_t whole = ferry::detail::crc32c_portable(buf.data(), buf.size(), 0);
  for (const Impl& impl : impls()) {
    std::uint32_t crc = 0;
    for (std::size_t at = 0; at < buf.size();) {
      const std::size_t n =
          std::min(buf.size() - at, std::uniform_int_distribution<std::size_t>(0, 9000)(rng));
      crc = impl.fn(buf.data() + at, n, crc);
      at += n;
    }
    EXPECT_EQ(crc, whole) << impl.name;
  }
}

// The join of a's CRC and b's equals the CRC of a followed by b, for every size of b up to
// 2 KiB and some larger, in every implementation: the public one, the portable arithmetic
// and, where the CPU has it, the carry-less one.
TEST(Crc32cJoin, JoinsTwoCrcsIntoTheCrcOfBothBuffers) {
  std::mt19937_64 rng(5);
  std::vector<std::size_t> sizes(2049);
  std::iota(sizes.begin(), sizes.end(), std::size_t{0});
  for (const std::size_t big :
       {std::size_t{65535}, std::size_t{65536}, (std::size_t{1} << 20) + 13}) {
    sizes.push_back(big);
  }
  for (const std::size_t size_b : sizes) {
    const std::vector<unsigned char> a = random_bytes(std::size_t{rng() % 40}, rng);
    const std::vector<unsigned char> b = random_bytes(size_b, rng);
    const std::uint32_t crc_a = ferry::crc32c(a.data(), a.size());
    const std::uint32_t crc_b = ferry::crc32c(b.data(), b.size());
    const std::uint32_t whole = ferry::crc32c(b.data(), b.size(), crc_a);
    ASSERT_EQ(ferry::Crc32cJoin(size_b)(crc_a, crc_b), whole) << "size " << size_b;
    const std::uint32_t portable_key = ferry::detail::crc32c_portable_join_key(size_b);
    ASSERT_EQ(ferry::detail::crc32c_mulmod(crc_a, portable_key) ^ crc_b, whole)
        << "portable, size " << size_b;
#if defined(__x86_64__)
    if (ferry::detail::crc32c_hw_available()) {
      const std::uint32_t key = ferry::detail::crc32c_hw_join_key(size_b);
      ASSERT_EQ(ferry::detail::crc32c_hw_shift(crc_a, key) ^ crc_b, whole) << "hw, size " << size_b;
    }
#endif
  }
}

// Sizes no test can allocate: moving a CRC past n1 + n2 bytes is moving it past n1, then
// n2 (a join with an empty b's CRC 0 only moves crc_a), and both arithmetics agree.
TEST(Crc32cJoin, HugeSizesMoveACrcLikeTheirParts) {
  std::mt19937_64 rng(6);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n1 = rng() >> (4 + rng() % 58);
    const std::size_t n2 = rng() >> (4 + rng() % 58);
    const auto crc = static_cast<std::uint32_t>(rng());
    const std::uint32_t moved = ferry::Crc32cJoin(n1 + n2)(crc, 0);
    ASSERT_EQ(ferry::Crc32cJoin(n2)(ferry::Crc32cJoin(n1)(crc, 0), 0), moved) << n1 << " + " << n2;
    ASSERT_EQ(ferry::detail::crc32c_mulmod(crc, ferry::detail::crc32c_portable_join_key(n1 + n2)),
              moved)
        << n1 << " + " << n2;
  }
}

TEST(Crc32cJoin, AJoinForAnotherSizeGivesAnotherCrc) {
  const std::array<unsigned char, 4> a{1, 2, 3, 4};
  std::array<unsigned char, 100> b{};
  b.fill(7);
  const std::uint32_t crc_a = ferry::crc32c(a.data(), a.size());
  const std::uint32_t crc_b = ferry::crc32c(b.data(), b.size());
  EXPECT_EQ(ferry::Crc32cJoin(100)(crc_a, crc_b), ferry::crc32c(b.data(), b.size(), crc_a));
  EXPECT_NE(ferry::Crc32cJoin(99)(crc_a, crc_b), ferry::crc32c(b.data(), b.size(), crc_a));
  EXPECT_EQ(ferry::Crc32cJoin(0)(crc_a, 0), crc_a);  // nothing after a
  EXPECT_EQ(ferry::Crc32cJoin().size_b(), 0u);
}

}  // namespace
