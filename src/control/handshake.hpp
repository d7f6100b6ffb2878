// SPDX-License-Identifier: Apache-2.0
// handshake.hpp: the two messages of the connection handshake (docs/protocol.md).
//
//   client -> server  Hello    (128 bytes): magic "FHEL", protocol version, requested ring
//                               sizes, compression, client name
//   server -> client  Welcome  (512 bytes): magic "FWEL", protocol version, status,
//                               connection id, slot, segment sizes, a message for people;
//                               with status ok it carries the descriptors (SCM_RIGHTS)
//
// Both are fixed-size little-endian records; magic and version sit at the same offsets in
// every version, so a peer of another version is recognised and told so. Decoders trust
// nothing: every field is checked, the name must be printable ASCII.
// Thread-safety: plain functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ferry/codec.hpp"
#include "ferry/result.hpp"

namespace ferry::detail {

inline constexpr std::uint32_t kHelloMagic = 0x4c454846;    // "FHEL" little-endian
inline constexpr std::uint32_t kWelcomeMagic = 0x4c455746;  // "FWEL" little-endian
// 2: the Welcome passes three descriptors (segment, doorbell, wake) and wakes go through
// the socket; version 1 passed two memfds and three eventfds.
inline constexpr std::uint16_t kProtocolVersion = 2;
inline constexpr std::size_t kHelloSize = 128;
inline constexpr std::size_t kWelcomeSize = 512;
inline constexpr std::size_t kMaxClientName = 64;
// Hello flags: the client connected before and lost that connection (counted by servers).
inline constexpr std::uint32_t kHelloFlagReconnect = 1u << 0;
inline constexpr std::size_t kMaxWelcomeMessage = 400;

struct Hello {
  std::uint16_t version = kProtocolVersion;
  std::uint32_t flags = 0;         // kHelloFlag*; other bits must be 0
  std::uint32_t c2s_capacity = 0;  // requested ring sizes (0: the server's default)
  std::uint32_t s2c_capacity = 0;
  Compression compression = Compression::none;
  std::string name;  // at most kMaxClientName printable ASCII characters
};

enum class WelcomeStatus : std::uint16_t {
  ok = 0,
  bad_version = 1,  // message says which versions the server speaks
  refused = 2,      // credentials not allowed
  full = 3,         // connection limit reached
  bad_request = 4,  // malformed hello, or sizes the server cannot grant
  failed = 5,       // the server could not set up the connection (e.g. out of memory)
};

struct Welcome {
  std::uint16_t version = kProtocolVersion;
  WelcomeStatus status = WelcomeStatus::ok;
  std::uint64_t connection_id = 0;
  std::uint32_t slot = 0;
  std::uint64_t segment_size = 0;   // bytes of the connection segment (first descriptor)
  std::uint64_t doorbell_size = 0;  // bytes of the server's doorbell segment (second)
  std::string message;              // at most kMaxWelcomeMessage characters
};

std::array<std::byte, kHelloSize> encode_hello(const Hello& hello);
// corrupt: not a hello (bad magic, wrong size); bad_version: another protocol version (the
// message names it; `version_out` receives it when not null); bad_request-like field errors
// are invalid_argument (flags, compression, name).
Result<Hello> decode_hello(std::span<const std::byte> bytes, std::uint16_t* version_out = nullptr);

std::array<std::byte, kWelcomeSize> encode_welcome(const Welcome& welcome);
// corrupt: not a welcome; the version is returned as sent (the caller compares it).
Result<Welcome> decode_welcome(std::span<const std::byte> bytes);

}  // namespace ferry::detail
