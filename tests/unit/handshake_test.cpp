// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/control/handshake.hpp: Hello and Welcome round trips, their byte
// layout (docs/protocol.md), and every decode error.
#include "control/handshake.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "support/assertions.hpp"

namespace ferry::detail {
namespace {

using ferry::test::fails_with;

template <std::size_t N>
std::vector<std::byte> to_vector(const std::array<std::byte, N>& a) {
  return {a.begin(), a.end()};
}

void put8(std::vector<std::byte>& b, std::size_t at, unsigned v) {
  b.at(at) = static_cast<std::byte>(v);
}
void put16(std::vector<std::byte>& b, std::size_t at, unsigned v) {
  put8(b, at, v & 0xff);
  put8(b, at + 1, (v >> 8) & 0xff);
}
std::uint64_t get_le(const std::vector<std::byte>& b, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | std::to_integer<std::uint64_t>(b.at(at + i));
  return v;
}

Hello sample_hello() {
  Hello h;
  h.flags = kHelloFlagReconnect;
  h.c2s_capacity = 1u << 20;
  h.s2c_capacity = 0x01020304;
  h.compression = Compression::zstd;
  h.name = "my-client 1.0";
  return h;
}

Welcome sample_welcome() {
  Welcome w;
  w.status = WelcomeStatus::ok;
  w.connection_id = 0x1122334455667788ull;
  w.slot = 42;
  w.segment_size = 1ull << 33;
  w.doorbell_size = 4096;
  w.message = "welcome to ferryd";
  return w;
}

TEST(Hello, RoundTrips) {
  const Hello h = sample_hello();
  const auto bytes = encode_hello(h);
  std::uint16_t version = 0;
  auto d = decode_hello(bytes, &version);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(version, kProtocolVersion);
  EXPECT_EQ(d->version, kProtocolVersion);
  EXPECT_EQ(d->flags, kHelloFlagReconnect);
  EXPECT_EQ(d->c2s_capacity, h.c2s_capacity);
  EXPECT_EQ(d->s2c_capacity, h.s2c_capacity);
  EXPECT_EQ(d->compression, Compression::zstd);
  EXPECT_EQ(d->name, h.name);
  EXPECT_EQ(encode_hello(*d), bytes);

  Hello empty;
  auto e = decode_hello(encode_hello(empty));
  ASSERT_TRUE(e.ok()) << e.error().message();
  EXPECT_EQ(e->name, "");
  EXPECT_EQ(e->compression, Compression::none);
}

TEST(Hello, HasTheDocumentedLayout) {
  const auto b = to_vector(encode_hello(sample_hello()));
  ASSERT_EQ(b.size(), 128u);
  EXPECT_EQ(std::memcmp(b.data(), "FHEL", 4), 0);
  EXPECT_EQ(get_le(b, 0, 4), kHelloMagic);
  EXPECT_EQ(get_le(b, 4, 2), kProtocolVersion);
  EXPECT_EQ(get_le(b, 6, 2), 0u);
  EXPECT_EQ(get_le(b, 8, 4), 1u);  // kHelloFlagReconnect
  EXPECT_EQ(get_le(b, 12, 4), 1u << 20);
  EXPECT_EQ(get_le(b, 16, 4), 0x01020304u);
  EXPECT_EQ(get_le(b, 20, 1), 2u);
  EXPECT_EQ(get_le(b, 21, 1), 13u);
  EXPECT_EQ(std::memcmp(b.data() + 32, "my-client 1.0", 13), 0);
  for (std::size_t i = 22; i < 32; ++i) EXPECT_EQ(get_le(b, i, 1), 0u) << i;
  for (std::size_t i = 32 + 13; i < 128; ++i) EXPECT_EQ(get_le(b, i, 1), 0u) << i;
}

TEST(Hello, EncodeTruncatesAndCleansTheName) {
  Hello h;
  h.name = std::string(70, 'n');
  auto d = decode_hello(encode_hello(h));
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->name, std::string(64, 'n'));

  h.name = std::string("a\nb\0c\x80", 6);
  d = decode_hello(encode_hello(h));
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->name, "a?b?c?");
}

TEST(Hello, RejectsWhatIsNotAHello) {
  const auto good = to_vector(encode_hello(sample_hello()));
  EXPECT_TRUE(fails_with(decode_hello({}), Errc::corrupt, "not a ferry hello: 0 bytes"));
  EXPECT_TRUE(fails_with(decode_hello(std::span(good).first(5)), Errc::corrupt, "5 bytes"));
  EXPECT_TRUE(fails_with(decode_hello(std::span(good).first(127)), Errc::corrupt,
                         "not a ferry hello: 127 bytes"));
  auto longer = good;
  longer.push_back(std::byte{0});
  EXPECT_TRUE(fails_with(decode_hello(longer), Errc::corrupt, "129 bytes"));
  auto magic = good;
  put8(magic, 3, 'X');
  EXPECT_TRUE(
      fails_with(decode_hello(magic), Errc::corrupt, "not a ferry hello: magic 0x58454846"));
  // A welcome is not a hello.
  EXPECT_TRUE(fails_with(decode_hello(to_vector(encode_welcome(sample_welcome()))), Errc::corrupt,
                         "magic"));
}

TEST(Hello, ReportsAnotherProtocolVersion) {
  auto b = to_vector(encode_hello(sample_hello()));
  put16(b, 4, 7);
  std::uint16_t version = 0;
  EXPECT_TRUE(fails_with(
      decode_hello(b, &version), Errc::bad_version,
      "client speaks protocol version 7, this server speaks " + std::to_string(kProtocolVersion)));
  EXPECT_EQ(version, 7u);
  // A later version may have a longer hello: still recognised as another version.
  b.resize(256);
  version = 0;
  EXPECT_TRUE(fails_with(decode_hello(b, &version), Errc::bad_version, "version 7"));
  EXPECT_EQ(version, 7u);
  b.resize(6);
  EXPECT_TRUE(fails_with(decode_hello(b), Errc::bad_version, "version 7"));
  put16(b, 4, 0);
  EXPECT_TRUE(fails_with(decode_hello(b, &version), Errc::bad_version, "version 0"));
  EXPECT_EQ(version, 0u);
}

TEST(Hello, RejectsBadFields) {
  const auto good = to_vector(encode_hello(sample_hello()));
  const auto with = [&](std::size_t at, unsigned value) {
    auto b = good;
    put8(b, at, value);
    return decode_hello(b);
  };
  EXPECT_TRUE(fails_with(with(8, 2), Errc::invalid_argument, "flags 0x00000002"));
  EXPECT_TRUE(fails_with(with(11, 0x80), Errc::invalid_argument, "flags 0x80000001"));
  EXPECT_TRUE(fails_with(with(20, 3), Errc::invalid_argument, "compression 3"));
  EXPECT_TRUE(fails_with(with(20, 255), Errc::invalid_argument, "compression 255"));
  EXPECT_TRUE(fails_with(with(21, 65), Errc::invalid_argument, "name length 65"));
  EXPECT_TRUE(fails_with(with(21, 255), Errc::invalid_argument, "name length 255"));
  EXPECT_TRUE(fails_with(with(32, '\n'), Errc::invalid_argument, "not printable"));
  EXPECT_TRUE(fails_with(with(33, 0x7f), Errc::invalid_argument, "not printable"));
  EXPECT_TRUE(fails_with(with(34, 0xc3), Errc::invalid_argument, "not printable"));
  EXPECT_TRUE(fails_with(with(32 + 13, 'x'), Errc::invalid_argument, "after the client name"));
  EXPECT_TRUE(fails_with(with(95, 'x'), Errc::invalid_argument, "after the client name"));
  for (const std::size_t at : {6u, 7u, 22u, 31u, 96u, 127u}) {
    SCOPED_TRACE(at);
    EXPECT_TRUE(fails_with(with(at, 1), Errc::invalid_argument, "reserved bytes are not zero"));
  }
  // Every compression the protocol names, and a name of exactly 64, are fine.
  for (unsigned c = 0; c <= 2; ++c) EXPECT_TRUE(with(20, c).ok()) << c;
  Hello h;
  h.name = std::string(64, '~');
  EXPECT_TRUE(decode_hello(encode_hello(h)).ok());
}

TEST(Welcome, RoundTrips) {
  const Welcome w = sample_welcome();
  const auto bytes = encode_welcome(w);
  auto d = decode_welcome(bytes);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->version, kProtocolVersion);
  EXPECT_EQ(d->status, WelcomeStatus::ok);
  EXPECT_EQ(d->connection_id, w.connection_id);
  EXPECT_EQ(d->slot, w.slot);
  EXPECT_EQ(d->segment_size, w.segment_size);
  EXPECT_EQ(d->doorbell_size, w.doorbell_size);
  EXPECT_EQ(d->message, w.message);
  EXPECT_EQ(encode_welcome(*d), bytes);

  for (std::uint16_t s = 0; s <= 5; ++s) {
    Welcome r;
    r.status = static_cast<WelcomeStatus>(s);
    auto rd = decode_welcome(encode_welcome(r));
    ASSERT_TRUE(rd.ok()) << rd.error().message();
    EXPECT_EQ(rd->status, r.status);
  }
}

TEST(Welcome, HasTheDocumentedLayout) {
  Welcome w = sample_welcome();
  w.status = WelcomeStatus::full;
  const auto b = to_vector(encode_welcome(w));
  ASSERT_EQ(b.size(), 512u);
  EXPECT_EQ(std::memcmp(b.data(), "FWEL", 4), 0);
  EXPECT_EQ(get_le(b, 0, 4), kWelcomeMagic);
  EXPECT_EQ(get_le(b, 4, 2), kProtocolVersion);
  EXPECT_EQ(get_le(b, 6, 2), 3u);
  EXPECT_EQ(get_le(b, 8, 8), 0x1122334455667788ull);
  EXPECT_EQ(get_le(b, 16, 4), 42u);
  EXPECT_EQ(get_le(b, 20, 4), 0u);
  EXPECT_EQ(get_le(b, 24, 8), 1ull << 33);
  EXPECT_EQ(get_le(b, 32, 8), 4096u);
  EXPECT_EQ(get_le(b, 40, 2), 17u);
  EXPECT_EQ(std::memcmp(b.data() + 48, "welcome to ferryd", 17), 0);
  for (std::size_t i = 42; i < 48; ++i) EXPECT_EQ(get_le(b, i, 1), 0u) << i;
  for (std::size_t i = 48 + 17; i < 512; ++i) EXPECT_EQ(get_le(b, i, 1), 0u) << i;
}

TEST(Welcome, EncodeTruncatesTheMessage) {
  Welcome w;
  w.message = std::string(500, 'm');
  auto d = decode_welcome(encode_welcome(w));
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->message, std::string(400, 'm'));
}

TEST(Welcome, RejectsWhatIsNotAWelcome) {
  const auto good = to_vector(encode_welcome(sample_welcome()));
  EXPECT_TRUE(fails_with(decode_welcome({}), Errc::corrupt, "not a ferry welcome: 0 bytes"));
  EXPECT_TRUE(fails_with(decode_welcome(std::span(good).first(511)), Errc::corrupt, "511 bytes"));
  auto longer = good;
  longer.push_back(std::byte{0});
  EXPECT_TRUE(fails_with(decode_welcome(longer), Errc::corrupt, "513 bytes"));
  auto magic = good;
  put8(magic, 0, 0);
  EXPECT_TRUE(fails_with(decode_welcome(magic), Errc::corrupt, "not a ferry welcome: magic"));
  auto status = good;
  put16(status, 6, 6);
  EXPECT_TRUE(fails_with(decode_welcome(status), Errc::corrupt, "status 6"));
  put16(status, 6, 0xffff);
  EXPECT_TRUE(fails_with(decode_welcome(status), Errc::corrupt, "status 65535"));
  auto length = good;
  put16(length, 40, 401);
  EXPECT_TRUE(fails_with(decode_welcome(length), Errc::corrupt, "message length 401"));
  put16(length, 40, 400);
  EXPECT_TRUE(decode_welcome(length).ok());
}

TEST(Welcome, ReturnsAnotherVersionAsSentAndCleansTheMessage) {
  auto b = to_vector(encode_welcome(sample_welcome()));
  put16(b, 4, 7);
  put8(b, 48, '\n');
  put8(b, 49, 0xff);
  put8(b, 300, 'x');  // beyond message_len: ignored
  put8(b, 20, 1);     // reserved: a later version's business
  auto d = decode_welcome(b);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->version, 7u);
  EXPECT_EQ(d->message, "??lcome to ferryd");
}

}  // namespace
}  // namespace ferry::detail
