// SPDX-License-Identifier: Apache-2.0
// tests/tools/gateway_link_test.cpp: ferry.v1 frames (tools/gateway/link.hpp,
// docs/gateway_protocol.md): frames written by LinkWriter read back one by one, in one
// message or many; every check LinkReader makes refuses what breaks it, with a message
// that names the frame and the check; the hello and traceparent helpers.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "ferry/crc32c.hpp"
#include "gateway/link.hpp"

namespace {

using namespace ferry;
using gateway::LinkFrame;
using gateway::LinkReader;
using gateway::LinkWriter;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

struct Seen {
  std::vector<wire::Header> headers;
  std::vector<std::string> payloads;
  LinkReader::OnFrame sink() {
    return [this](const LinkFrame& f) -> Result<void> {
      headers.push_back(f.header);
      payloads.emplace_back(f.text());
      return {};
    };
  }
};

TEST(GatewayLink, FramesReadBackInOneMessageOrMany) {
  LinkWriter w;
  std::vector<std::byte> one;
  w.append(one, gateway::kHelloType, 0, 0, bytes(gateway::hello_payload("a", 1024)));
  w.append(one, 8, 0, 1, bytes("shout"));
  w.append(one, 8, wire::kFlagReply, 1, bytes("SHOUT"));
  w.append(one, 9, wire::kFlagReply | wire::kFlagError, 2, bytes("no service"));
  w.append(one, 7, 0, 0, {});
  std::vector<std::byte> two;
  w.append(two, 7, 0, 0, bytes("next message"));
  LinkReader r(1024);
  Seen seen;
  ASSERT_TRUE(r.read(one, seen.sink()));
  ASSERT_TRUE(r.read(two, seen.sink()));
  ASSERT_EQ(seen.headers.size(), 6u);
  for (std::size_t i = 0; i < seen.headers.size(); ++i) EXPECT_EQ(seen.headers[i].seq, i);
  EXPECT_EQ(seen.payloads[1], "shout");
  EXPECT_EQ(seen.headers[2].flags, wire::kFlagReply);
  EXPECT_EQ(seen.headers[3].correlation, 2u);
  EXPECT_EQ(seen.payloads[4], "");
  EXPECT_EQ(seen.payloads[5], "next message");
  EXPECT_EQ(r.frames(), 6u);
}

// The example of docs/gateway_protocol.md, byte for byte.
TEST(GatewayLink, TheDocumentsExampleIsWhatTheWriterWrites) {
  LinkWriter w;
  std::vector<std::byte> skip;
  for (int i = 0; i < 3; ++i) w.append(skip, 7, 0, 0, {});
  std::vector<std::byte> m;
  w.append(m, 8, 0, 1, bytes("shout"));
  const unsigned char head[] = {0x05, 0, 0, 0, 0x08, 0, 0x01, 0x00, 0x03, 0,
                                0,    0, 0, 0, 0,    0, 0x01, 0,    0,    0};
  ASSERT_EQ(m.size(), 24u + 5u);
  EXPECT_EQ(std::memcmp(m.data(), head, sizeof head), 0);
  std::uint32_t crc = 0;
  std::memcpy(&crc, m.data() + 20, 4);
  std::vector<std::byte> covered(m.begin(), m.begin() + 20);
  covered.insert(covered.end(), m.begin() + 24, m.end());
  EXPECT_EQ(crc, crc32c(covered.data(), covered.size()));
  EXPECT_EQ(std::memcmp(m.data() + 24, "shout", 5), 0);
}

// Writes `count` frames, lets `spoil` change the message, and returns the reader's error.
template <class Spoil>
Error refused(Spoil spoil, std::uint32_t max_payload = 1024) {
  LinkWriter w;
  std::vector<std::byte> m;
  w.append(m, 7, 0, 0, bytes("first"));
  w.append(m, 8, 0, 3, bytes("second"));
  spoil(m);
  LinkReader r(max_payload);
  Seen seen;
  auto result = r.read(m, seen.sink());
  EXPECT_FALSE(result);
  return result ? Error(Errc::invalid_argument, "accepted") : result.error();
}

// Sets byte `at` of the second frame's header, and its CRC again so that only the field is wrong.
void set_header_byte(std::vector<std::byte>& m, std::size_t at, std::byte value) {
  const std::size_t second = 24 + 5;
  m[second + at] = value;
  wire::Header h = wire::load(m.data() + second);
  wire::encode(h, std::span(m).subspan(second + 24), m.data() + second);
}

TEST(GatewayLink, EveryCheckRefusesWhatBreaksIt) {
  EXPECT_EQ(refused([](auto& m) { m.back() ^= std::byte{1}; }).code(), Errc::bad_crc);
  EXPECT_EQ(refused([](auto& m) { set_header_byte(m, 6, std::byte{2}); }).code(),
            Errc::bad_version);
  const Error lz4 = refused([](auto& m) { set_header_byte(m, 7, std::byte{wire::kFlagLz4}); });
  EXPECT_EQ(lz4.code(), Errc::bad_flags);
  EXPECT_NE(lz4.message().find("frame 2 of the message"), std::string::npos) << lz4.message();
  EXPECT_EQ(refused([](auto& m) { set_header_byte(m, 7, std::byte{wire::kFlagError}); }).code(),
            Errc::bad_flags);
  EXPECT_EQ(refused([](auto& m) {
              set_header_byte(m, 7, std::byte{wire::kFlagReply});
              set_header_byte(m, 16, std::byte{0});  // correlation 3 -> 0
            }).code(),
            Errc::bad_flags);
  const Error gap = refused([](auto& m) { set_header_byte(m, 8, std::byte{5}); });
  EXPECT_EQ(gap.code(), Errc::bad_sequence);
  EXPECT_NE(gap.message().find("sequence number 5, expected 1"), std::string::npos)
      << gap.message();
  EXPECT_EQ(refused([](auto& m) { m.pop_back(); }).code(), Errc::bad_length);  // truncated
  EXPECT_EQ(refused([](auto& m) { m.push_back(std::byte{0}); }).code(),
            Errc::bad_length);  // trailing bytes: a frame too short to be one
  EXPECT_EQ(refused([](auto&) {}, 5).code(), Errc::bad_length);  // "second" is over 5 bytes
  LinkReader r(1024);
  Seen seen;
  EXPECT_FALSE(r.read({}, seen.sink()));
}

TEST(GatewayLink, AnErrorFromTheCallerStopsTheReading) {
  LinkWriter w;
  std::vector<std::byte> m;
  w.append(m, 7, 0, 0, bytes("a"));
  w.append(m, 7, 0, 0, bytes("b"));
  LinkReader r(1024);
  int calls = 0;
  auto result = r.read(m, [&](const LinkFrame&) -> Result<void> {
    ++calls;
    return Error(Errc::invalid_argument, "no");
  });
  EXPECT_FALSE(result);
  EXPECT_EQ(calls, 1);
}

TEST(GatewayLink, HelloParsesWhatItWritesAndRefusesTheRest) {
  auto hello = gateway::parse_hello(gateway::hello_payload("host-a", 65536));
  ASSERT_TRUE(hello) << hello.error().message();
  EXPECT_EQ(hello->node, "host-a");
  EXPECT_EQ(hello->max_payload, 65536u);
  EXPECT_TRUE(gateway::parse_hello(R"({"node":"b","max_payload":1,"future":true})"));
  for (const char* bad :
       {"", "[]", "{}", R"({"node":1,"max_payload":1})", R"({"node":"b","max_payload":-1})",
        R"({"node":"b"})", R"({"node":"b","max_payload":99999999999})"}) {
    EXPECT_FALSE(gateway::parse_hello(bad)) << bad;
  }
}

TEST(GatewayLink, Traceparents) {
  const std::string t = gateway::new_traceparent();
  EXPECT_TRUE(gateway::is_traceparent(t)) << t;
  EXPECT_NE(t, gateway::new_traceparent());
  for (int i = 0; i < 1000; ++i) {
    const std::string u = gateway::new_traceparent();
    ASSERT_TRUE(gateway::is_traceparent(u)) << u;
  }
  EXPECT_EQ(gateway::trace_id(t), t.substr(3, 32));
  EXPECT_TRUE(gateway::is_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(gateway::is_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(gateway::is_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(gateway::is_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(gateway::is_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));
}

}  // namespace
