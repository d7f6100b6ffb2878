// SPDX-License-Identifier: Apache-2.0
// Tests for the frame header codec (ferry/wire.hpp).
#include "ferry/wire.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ferry/crc32c.hpp"

namespace {

using ferry::Errc;
namespace wire = ferry::wire;

wire::Header sample_header() {
  wire::Header h;
  h.type = 0x0605;
  h.flags = wire::kFlagReply | wire::kFlagError;
  h.seq = 0x100f0e0d0c0b0a09u;
  h.correlation = 0x14131211u;
  return h;
}

// A complete frame: header then payload.
std::vector<std::byte> make_frame(wire::Header h, const std::string& payload) {
  h.length = static_cast<std::uint32_t>(payload.size());
  std::vector<std::byte> frame(wire::kHeaderSize + payload.size());
  std::memcpy(frame.data() + wire::kHeaderSize, payload.data(), payload.size());
  wire::encode(h, std::span(frame).subspan(wire::kHeaderSize), frame.data());
  return frame;
}

bool same_fields(const wire::Header& a, const wire::Header& b) {
  return a.length == b.length && a.type == b.type && a.version == b.version && a.flags == b.flags &&
         a.seq == b.seq && a.correlation == b.correlation;
}

TEST(Wire, RoundTrip) {
  const std::vector<std::byte> frame = make_frame(sample_header(), "hello, ferry");
  const auto h = wire::decode(frame);
  ASSERT_TRUE(h.ok()) << h.error().message();
  wire::Header expected = sample_header();
  expected.length = 12;
  EXPECT_TRUE(same_fields(*h, expected));
  EXPECT_EQ(h->crc, wire::frame_crc(frame.data(), std::span(frame).subspan(wire::kHeaderSize)));
}

TEST(Wire, FieldsAtDocumentedOffsetsLittleEndian) {
  wire::Header h = sample_header();
  h.length = 0x04030201u;
  const std::array<std::byte, 3> payload{std::byte{0xaa}, std::byte{0xbb}, std::byte{0xcc}};
  std::array<std::byte, wire::kHeaderSize> out{};
  const std::uint32_t crc = wire::encode(h, payload, out.data());

  // clang-format off
  const std::array<unsigned, wire::kHeaderSize> expected{
      0x01, 0x02, 0x03, 0x04,                          // 0: length
      0x05, 0x06,                                      // 4: type
      wire::kVersion,                                  // 6: version
      wire::kFlagReply | wire::kFlagError,             // 7: flags
      0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,  // 8: seq
      0x11, 0x12, 0x13, 0x14,                          // 16: correlation
      crc & 0xff, (crc >> 8) & 0xff, (crc >> 16) & 0xff, crc >> 24};  // 20: crc
  // clang-format on
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(std::to_integer<unsigned>(out[i]), expected[i]) << "byte " << i;
  }
  // The CRC covers bytes 0..20 and then the payload.
  std::vector<std::byte> covered(out.begin(), out.begin() + wire::kCrcCoveredHeaderBytes);
  covered.insert(covered.end(), payload.begin(), payload.end());
  EXPECT_EQ(crc, ferry::crc32c(covered.data(), covered.size()));

  const wire::Header back = wire::load(out.data());
  EXPECT_TRUE(same_fields(back, h));
  EXPECT_EQ(back.crc, crc);

  std::array<std::byte, wire::kHeaderSize> fields{};
  wire::store_fields(h, fields.data());
  EXPECT_EQ(std::memcmp(fields.data(), out.data(), wire::kCrcCoveredHeaderBytes), 0);
}

TEST(Wire, EmptyPayloadAndPaddingFrames) {
  EXPECT_TRUE(wire::decode(make_frame(sample_header(), "")).ok());
  wire::Header pad;
  pad.flags = wire::kFlagPadding;
  EXPECT_TRUE(wire::decode(make_frame(pad, std::string(40, '\0'))).ok());
}

TEST(Wire, ShortBuffer) {
  const std::vector<std::byte> frame = make_frame(sample_header(), "");
  for (std::size_t size = 0; size < wire::kHeaderSize; ++size) {
    const auto h = wire::decode(std::span(frame).first(size));
    ASSERT_EQ(h.code(), Errc::bad_length) << size;
  }
  EXPECT_NE(wire::decode(std::span(frame).first(5)).error().message().find("5 bytes"),
            std::string::npos);
}

TEST(Wire, LengthOverLimit) {
  const std::vector<std::byte> frame = make_frame(sample_header(), std::string(5000, 'x'));
  const auto h = wire::decode(frame, {.max_payload = 4096});
  ASSERT_EQ(h.code(), Errc::bad_length);
  EXPECT_EQ(h.error().message(),
            "frame header: payload length 5000 exceeds the limit of 4096 bytes");
  EXPECT_TRUE(wire::decode(frame, {.max_payload = 5000}).ok());
}

TEST(Wire, PayloadPastBuffer) {
  const std::vector<std::byte> frame = make_frame(sample_header(), "0123456789");
  const auto h = wire::decode(std::span(frame).first(frame.size() - 1));
  ASSERT_EQ(h.code(), Errc::bad_length);
  EXPECT_NE(h.error().message().find("payload length 10"), std::string::npos)
      << h.error().message();
}

TEST(Wire, BadVersion) {
  wire::Header h = sample_header();
  h.version = 7;
  const auto r = wire::decode(make_frame(h, "x"));
  ASSERT_EQ(r.code(), Errc::bad_version);
  EXPECT_EQ(r.error().message(), "frame header: protocol version 7, this build speaks version 1");
}

TEST(Wire, BadFlags) {
  const auto check = [](std::uint8_t flags) {
    wire::Header h = sample_header();
    h.flags = flags;
    const auto r = wire::decode(make_frame(h, "x"));
    EXPECT_EQ(r.code(), Errc::bad_flags) << "flags " << unsigned{flags};
    EXPECT_EQ(wire::validate(h).code(), Errc::bad_flags);
  };
  for (unsigned bit = 6; bit < 8; ++bit) check(static_cast<std::uint8_t>(1u << bit));  // unknown
  wire::Header unknown = sample_header();
  unknown.flags = 0xc1;
  EXPECT_EQ(wire::validate(unknown).error().message(),
            "frame header: unknown flag bits 0xc0 in flags 0xc1 (known: 0x3f)");
  check(wire::kFlagLz4 | wire::kFlagZstd);
  check(wire::kFlagPadding | wire::kFlagReply);
  check(wire::kFlagPadding | wire::kFlagLz4);
  for (const std::uint8_t ok : {wire::kFlagLz4, wire::kFlagZstd, wire::kFlagReply, wire::kFlagError,
                                static_cast<std::uint8_t>(wire::kFlagZstd | wire::kFlagReply)}) {
    wire::Header h = sample_header();
    h.flags = ok;
    EXPECT_TRUE(wire::validate(h).ok()) << unsigned{ok};
  }
}

// Any single-bit flip is caught; outside length, version and flags it is the CRC that
// catches it (those three may fail validation first).
TEST(Wire, EverySingleBitFlipIsRejected) {
  const std::vector<std::byte> good = make_frame(sample_header(), "some payload bytes");
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::vector<std::byte> bad = good;
    bad[bit / 8] ^= std::byte{static_cast<unsigned char>(1u << (bit % 8))};
    const auto r = wire::decode(bad);
    ASSERT_FALSE(r.ok()) << "bit " << bit;
    const std::size_t byte = bit / 8;
    const bool validated = byte < 4 || byte == 6 || byte == 7;  // length, version, flags
    if (!validated) {
      EXPECT_EQ(r.code(), Errc::bad_crc) << "bit " << bit;
    }
  }
}

TEST(Wire, CrcMismatchMessageAndCheckCrcOff) {
  std::vector<std::byte> frame = make_frame(sample_header(), "abc");
  frame.back() ^= std::byte{1};
  const std::uint32_t says = wire::load(frame.data()).crc;
  const std::uint32_t computed =
      wire::frame_crc(frame.data(), std::span(frame).subspan(wire::kHeaderSize));
  std::array<char, 80> expected{};
  std::snprintf(expected.data(), expected.size(),
                "frame crc32c mismatch: header says 0x%08x, computed 0x%08x", says, computed);
  const auto r = wire::decode(frame);
  ASSERT_EQ(r.code(), Errc::bad_crc);
  EXPECT_EQ(r.error().message(), expected.data());

  const auto unchecked = wire::decode(frame, {.check_crc = false});
  ASSERT_TRUE(unchecked.ok());
  EXPECT_EQ(unchecked->crc, says);
}

// A frame placed so its last byte is the last byte before a PROT_NONE page: decode must
// not touch the guard page, whatever the length field claims.
TEST(Wire, DecodeNeverReadsPastTheSpan) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* map = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  auto* const mem = static_cast<std::byte*>(map);
  ASSERT_EQ(mprotect(mem + page, page, PROT_NONE), 0);
  const auto at_end = [&](const std::vector<std::byte>& bytes) {
    std::byte* start = mem + page - bytes.size();
    std::copy(bytes.begin(), bytes.end(), start);
    return std::span<const std::byte>(start, bytes.size());
  };

  const std::vector<std::byte> frame = make_frame(sample_header(), "payload at the edge");
  EXPECT_TRUE(wire::decode(at_end(frame)).ok());
  EXPECT_TRUE(wire::decode(at_end(make_frame(sample_header(), ""))).ok());
  for (std::size_t size = 0; size < frame.size(); ++size) {
    const std::vector<std::byte> prefix(frame.begin(),
                                        frame.begin() + static_cast<std::ptrdiff_t>(size));
    EXPECT_EQ(wire::decode(at_end(prefix)).code(), Errc::bad_length) << size;
  }
  wire::Header huge = sample_header();  // claims the largest length any frame may have
  huge.length = wire::kMaxPayload;
  std::vector<std::byte> claims(frame.size());
  wire::store_fields(huge, claims.data());
  EXPECT_EQ(wire::decode(at_end(claims)).code(), Errc::bad_length);

  munmap(map, 2 * page);
}

}  // namespace
