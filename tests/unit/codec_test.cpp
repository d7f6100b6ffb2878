// SPDX-License-Identifier: Apache-2.0
// Tests for payload compression (ferry/codec.hpp).
#include "ferry/codec.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ferry/wire.hpp"

namespace {

using ferry::Compression;
using ferry::Errc;

constexpr Compression kCodecs[] = {Compression::lz4, Compression::zstd};
constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

std::string codec_name(const testing::TestParamInfo<Compression>& info) {
  return std::string(ferry::to_string(info.param));
}

// Text-like data that compresses well: words from a small vocabulary.
std::vector<std::byte> compressible(std::size_t n, std::uint32_t seed = 1) {
  static const char* const kWords[] = {"ferry ", "ring ",    "frame ",  "header ",
                                       "crc ",   "payload ", "shared ", "memory "};
  std::mt19937 rng(seed);
  std::vector<std::byte> out;
  out.reserve(n + 16);
  while (out.size() < n) {
    const char* w = kWords[rng() % std::size(kWords)];
    for (const char* p = w; *p != '\0'; ++p) out.push_back(static_cast<std::byte>(*p));
  }
  out.resize(n);
  return out;
}

// Uniformly random bytes: no codec can shrink them.
std::vector<std::byte> incompressible(std::size_t n, std::uint32_t seed = 2) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

// Compresses src; an empty vector when compress() says "send raw".
std::vector<std::byte> compress_all(Compression c, std::span<const std::byte> src, int level = 0) {
  std::vector<std::byte> frame(ferry::compress_bound(c, src.size()));
  auto n = ferry::compress(c, level, src, frame);
  EXPECT_TRUE(n.ok()) << n.error().message();
  frame.resize(n.ok() ? *n : 0);
  return frame;
}

// Decompresses a frame into a buffer of exactly its recorded size.
ferry::Result<std::vector<std::byte>> decompress_all(Compression c,
                                                     std::span<const std::byte> frame,
                                                     std::size_t max_size = kNoLimit) {
  auto n = ferry::decompressed_size(frame, max_size);
  if (!n) return n.error();
  std::vector<std::byte> out(*n);
  auto got = ferry::decompress(c, frame, out, max_size);
  if (!got) return got.error();
  EXPECT_EQ(*got, *n);
  return out;
}

std::uint32_t prefix_of(std::span<const std::byte> frame) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::to_integer<std::uint32_t>(frame[i]) << (8 * i);
  return v;
}

void set_prefix(std::span<std::byte> frame, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) frame[i] = static_cast<std::byte>(v >> (8 * i));
}

TEST(Compression, NamesRoundTrip) {
  for (Compression c : {Compression::none, Compression::lz4, Compression::zstd}) {
    auto parsed = ferry::parse_compression(ferry::to_string(c));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message();
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_EQ(ferry::to_string(Compression::lz4), "lz4");
  EXPECT_EQ(ferry::to_string(static_cast<Compression>(9)), "unknown");
}

TEST(Compression, ParseRejectsUnknownNamesAndListsTheChoices) {
  for (const char* text : {"", "LZ4", "gzip", "zstd ", "lz4hc"}) {
    auto parsed = ferry::parse_compression(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.code(), Errc::invalid_argument);
    const std::string msg = parsed.error().message();
    EXPECT_NE(msg.find("none, lz4 or zstd"), std::string::npos) << msg;
  }
}

TEST(Compression, OptionDefaults) {
  const ferry::CompressionOptions o;
  EXPECT_EQ(o.codec, Compression::none);
  EXPECT_EQ(o.threshold, 1024u);
  EXPECT_EQ(o.level, 0);
}

TEST(Compression, FlagsMapping) {
  namespace wire = ferry::wire;
  EXPECT_EQ(ferry::compression_flag(Compression::none), 0);
  EXPECT_EQ(ferry::compression_flag(Compression::lz4), wire::kFlagLz4);
  EXPECT_EQ(ferry::compression_flag(Compression::zstd), wire::kFlagZstd);

  for (Compression c : {Compression::none, Compression::lz4, Compression::zstd}) {
    auto back = ferry::compression_from_flags(ferry::compression_flag(c));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, c);
    // Other flag bits do not change the codec.
    auto with_reply = ferry::compression_from_flags(
        static_cast<std::uint8_t>(ferry::compression_flag(c) | wire::kFlagReply));
    ASSERT_TRUE(with_reply.ok());
    EXPECT_EQ(*with_reply, c);
  }

  auto both = ferry::compression_from_flags(wire::kFlagLz4 | wire::kFlagZstd | wire::kFlagReply);
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.code(), Errc::bad_flags);
  EXPECT_NE(both.error().message().find("0x07"), std::string::npos) << both.error().message();
}

TEST(Compression, BoundCoversPrefixAndSaturates) {
  EXPECT_EQ(ferry::compress_bound(Compression::none, 1000), 1000u);
  for (Compression c : kCodecs) {
    for (std::size_t n : {0UL, 1UL, 1000UL, 1UL << 20}) {
      EXPECT_GE(ferry::compress_bound(c, n), n + 4) << ferry::to_string(c) << " " << n;
    }
    EXPECT_EQ(ferry::compress_bound(c, kNoLimit), kNoLimit);
  }
}

TEST(Compression, NoneIsNotACodec) {
  const auto src = compressible(4096);
  std::vector<std::byte> dst(8192);
  auto r = ferry::compress(Compression::none, 0, src, dst);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::invalid_argument);
  auto d = ferry::decompress(Compression::none, dst, dst, kNoLimit);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.code(), Errc::invalid_argument);
  auto unknown = ferry::compress(static_cast<Compression>(7), 0, src, dst);
  EXPECT_EQ(unknown.code(), Errc::invalid_argument);
}

class Codec : public testing::TestWithParam<Compression> {};
INSTANTIATE_TEST_SUITE_P(Both, Codec, testing::ValuesIn(kCodecs), codec_name);

TEST_P(Codec, RoundTripsOverSizes) {
  const Compression c = GetParam();
  for (std::size_t n : {0UL, 1UL, 4UL, 5UL, 16UL, 100UL, 1023UL, 1024UL, 4096UL, 65535UL, 65536UL,
                        65537UL, 300000UL, 1UL << 20}) {
    SCOPED_TRACE(n);
    const auto src = compressible(n, static_cast<std::uint32_t>(n));
    const auto frame = compress_all(c, src);
    if (n >= 64) {
      ASSERT_FALSE(frame.empty()) << "text of " << n << " bytes should compress";
    }
    if (frame.empty()) continue;
    EXPECT_LT(frame.size(), src.size());
    EXPECT_EQ(prefix_of(frame), n);
    auto size = ferry::decompressed_size(frame, n);
    ASSERT_TRUE(size.ok()) << size.error().message();
    EXPECT_EQ(*size, n);
    auto back = decompress_all(c, frame, n);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, src);
  }
}

TEST_P(Codec, IncompressibleDataIsSentRaw) {
  const Compression c = GetParam();
  for (std::size_t n : {0UL, 1UL, 4UL, 5UL, 100UL, 4096UL, 65536UL, 1UL << 20}) {
    const auto src = incompressible(n, static_cast<std::uint32_t>(n) + 7);
    std::vector<std::byte> dst(ferry::compress_bound(c, n));
    auto r = ferry::compress(c, 0, src, dst);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, 0u) << n;
  }
}

TEST_P(Codec, OnlyFramesSmallerThanTheInputAreReturned) {
  const Compression c = GetParam();
  // Half random, half text: whatever the codec gets, a non-zero result is a saving.
  for (std::size_t n = 5; n < 600; n += 13) {
    auto src = incompressible(n);
    const auto text = compressible(n / 2);
    std::copy(text.begin(), text.end(), src.begin());
    const auto frame = compress_all(c, src);
    if (frame.empty()) continue;
    EXPECT_LT(frame.size(), n);
    auto back = decompress_all(c, frame);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, src);
  }
}

TEST_P(Codec, LevelsRoundTripAndBadLevelsAreRefused) {
  const Compression c = GetParam();
  const auto src = compressible(100000);
  const std::vector<int> good =
      c == Compression::lz4 ? std::vector<int>{0, 1, 8, 100} : std::vector<int>{-5, 0, 1, 3, 19};
  for (int level : good) {
    const auto frame = compress_all(c, src, level);
    ASSERT_FALSE(frame.empty()) << level;
    auto back = decompress_all(c, frame);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, src) << level;
  }
  if (c == Compression::lz4) {  // the largest acceleration is accepted (it hardly compresses)
    std::vector<std::byte> dst(ferry::compress_bound(c, src.size()));
    EXPECT_TRUE(ferry::compress(c, 65537, src, dst).ok());
  }
  const std::vector<int> bad =
      c == Compression::lz4 ? std::vector<int>{-1, 65538} : std::vector<int>{1000, -1000000};
  for (int level : bad) {
    std::vector<std::byte> dst(ferry::compress_bound(c, src.size()));
    auto r = ferry::compress(c, level, src, dst);
    ASSERT_FALSE(r.ok()) << level;
    EXPECT_EQ(r.code(), Errc::invalid_argument);
    EXPECT_NE(r.error().message().find(std::to_string(level)), std::string::npos);
  }
}

TEST_P(Codec, DestinationSmallerThanTheBoundIsRefused) {
  const Compression c = GetParam();
  const auto src = compressible(5000);
  std::vector<std::byte> dst(ferry::compress_bound(c, src.size()) - 1);
  auto r = ferry::compress(c, 0, src, dst);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("compress_bound"), std::string::npos) << r.error().message();
}

TEST_P(Codec, InputsOverTwoGibAreRefusedWithoutBeingRead) {
  const Compression c = GetParam();
  // Address space only: any read of it would fault.
  const std::size_t n = (std::size_t{1} << 31) + 1;
  void* reserved =
      ::mmap(nullptr, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(reserved, MAP_FAILED);
  std::vector<std::byte> dst(64);
  auto r = ferry::compress(c, 0, std::span(static_cast<const std::byte*>(reserved), n), dst);
  ::munmap(reserved, n);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::invalid_argument);
}

TEST_P(Codec, DecompressionBombIsRefusedBeforeDecoding) {
  const Compression c = GetParam();
  const std::vector<std::byte> zeros(8 << 20);
  const auto frame = compress_all(c, zeros);
  ASSERT_FALSE(frame.empty());
  ASSERT_LT(frame.size(), 64u << 10);

  auto size = ferry::decompressed_size(frame, 1 << 20);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.code(), Errc::bad_length);
  // decompress() refuses it too, even with an empty destination.
  auto r = ferry::decompress(c, frame, {}, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::bad_length);

  // A prefix that claims a huge length: the message names both numbers.
  std::vector<std::byte> liar = frame;
  set_prefix(liar, 9000000);
  auto big = ferry::decompressed_size(liar, 262144);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().message(),
            "compressed payload claims 9000000 bytes, more than the 262144-byte limit");
}

TEST_P(Codec, ShortFramesAreBadLength) {
  const Compression c = GetParam();
  const std::byte three[3] = {};
  for (std::size_t n = 0; n < 4; ++n) {
    auto size = ferry::decompressed_size(std::span(three, n), kNoLimit);
    ASSERT_FALSE(size.ok());
    EXPECT_EQ(size.code(), Errc::bad_length);
    std::byte out[8];
    auto r = ferry::decompress(c, std::span(three, n), out, kNoLimit);
    EXPECT_EQ(r.code(), Errc::bad_length);
  }
}

TEST_P(Codec, DestinationSmallerThanTheRecordedSizeIsRefused) {
  const Compression c = GetParam();
  const auto src = compressible(10000);
  const auto frame = compress_all(c, src);
  std::vector<std::byte> out(src.size() - 1);
  auto r = ferry::decompress(c, frame, out, kNoLimit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::invalid_argument);
}

TEST_P(Codec, LargerDestinationIsFilledOnlyUpToTheRecordedSize) {
  const Compression c = GetParam();
  const auto src = compressible(10000);
  const auto frame = compress_all(c, src);
  std::vector<std::byte> out(src.size() + 100, std::byte{0xa5});
  auto r = ferry::decompress(c, frame, out, kNoLimit);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, src.size());
  EXPECT_TRUE(std::equal(src.begin(), src.end(), out.begin()));
  EXPECT_TRUE(std::all_of(out.begin() + static_cast<std::ptrdiff_t>(src.size()), out.end(),
                          [](std::byte b) { return b == std::byte{0xa5}; }));
}

TEST_P(Codec, WrongRecordedLengthIsCorrupt) {
  const Compression c = GetParam();
  const auto src = compressible(10000);
  const auto frame = compress_all(c, src);
  for (std::uint32_t claimed : {0u, 1u, 9999u, 10001u, 20000u}) {
    auto liar = frame;
    set_prefix(liar, claimed);
    auto r = decompress_all(c, liar);
    ASSERT_FALSE(r.ok()) << claimed;
    EXPECT_EQ(r.code(), Errc::corrupt) << claimed;
    EXPECT_NE(r.error().message().find(std::string(ferry::to_string(c)) + " payload is corrupt"),
              std::string::npos)
        << r.error().message();
  }
}

TEST_P(Codec, TruncatedFramesAreCorrupt) {
  const Compression c = GetParam();
  const auto src = compressible(20000);
  const auto frame = compress_all(c, src);
  ASSERT_FALSE(frame.empty());
  for (std::size_t n = 4; n < frame.size(); ++n) {
    // An exact-size copy, so ASan sees any read past the truncated frame.
    const std::vector<std::byte> cut(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = decompress_all(c, cut);
    ASSERT_FALSE(r.ok()) << n;
    ASSERT_EQ(r.code(), Errc::corrupt) << n << ": " << r.error().message();
  }
}

TEST_P(Codec, BitFlipsAreCorruptOrDecodeToTheRecordedLength) {
  const Compression c = GetParam();
  const auto src = compressible(20000);
  const auto frame = compress_all(c, src);
  std::mt19937 rng(42);
  int corrupt = 0;
  for (std::size_t pos = 4; pos < frame.size(); ++pos) {
    auto bad = frame;
    bad[pos] ^= static_cast<std::byte>(1u << (rng() % 8));
    auto r = decompress_all(c, bad);
    if (r.ok()) {
      EXPECT_EQ(r->size(), src.size());  // a flipped literal: same length, other bytes
    } else {
      ASSERT_EQ(r.code(), Errc::corrupt) << pos << ": " << r.error().message();
      ++corrupt;
    }
  }
  EXPECT_GT(corrupt, 0);
}

TEST_P(Codec, RandomGarbageNeverCrashes) {
  const Compression c = GetParam();
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    auto frame = incompressible(4 + rng() % 300, static_cast<std::uint32_t>(rng()));
    set_prefix(frame, static_cast<std::uint32_t>(rng() % 5000));
    auto r = decompress_all(c, frame, 1 << 20);
    if (!r.ok()) {
      ASSERT_EQ(r.code(), Errc::corrupt) << r.error().message();
    }
  }
}

TEST(Compression, FramesOfOneCodecAreCorruptForTheOther) {
  const auto src = compressible(10000);
  auto lz4_as_zstd = decompress_all(Compression::zstd, compress_all(Compression::lz4, src));
  EXPECT_EQ(lz4_as_zstd.code(), Errc::corrupt);
  auto zstd_as_lz4 = decompress_all(Compression::lz4, compress_all(Compression::zstd, src));
  EXPECT_EQ(zstd_as_lz4.code(), Errc::corrupt);
}

TEST(Compression, ThreadsCompressAndDecompressConcurrently) {
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (std::size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([t, &failures] {
      const Compression c = kCodecs[t % 2];
      for (std::uint32_t i = 0; i < 50; ++i) {
        const auto src = compressible(1000 + 97 * i, static_cast<std::uint32_t>(t) * 1000 + i);
        std::vector<std::byte> frame(ferry::compress_bound(c, src.size()));
        auto n = ferry::compress(c, 0, src, frame);
        if (!n || *n == 0) {
          ++failures[t];
          continue;
        }
        std::vector<std::byte> out(src.size());
        auto got = ferry::decompress(c, std::span(frame).first(*n), out, src.size());
        if (!got || out != src) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
