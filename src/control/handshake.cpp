// SPDX-License-Identifier: Apache-2.0
// The handshake's Hello and Welcome records (handshake.hpp). The byte layout is written
// down in docs/protocol.md; the offsets below are the ones in its tables.
#include "control/handshake.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace ferry::detail {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the handshake is little-endian and stored with memcpy; add byte swaps for a "
              "big-endian host");

// Hello (128 bytes).
constexpr std::size_t kHelloMagicAt = 0;
constexpr std::size_t kHelloVersionAt = 4;
constexpr std::size_t kHelloReserved0At = 6;  // u16, 0
constexpr std::size_t kHelloFlagsAt = 8;
constexpr std::size_t kHelloC2sAt = 12;
constexpr std::size_t kHelloS2cAt = 16;
constexpr std::size_t kHelloCompressionAt = 20;
constexpr std::size_t kHelloNameLenAt = 21;
constexpr std::size_t kHelloReserved1At = 22;  // 22..32, zero
constexpr std::size_t kHelloNameAt = 32;       // 32..96, zero padded
constexpr std::size_t kHelloReserved2At = 96;  // 96..128, zero
static_assert(kHelloNameAt + kMaxClientName == kHelloReserved2At);
static_assert(kHelloReserved2At + 32 == kHelloSize);

// Welcome (512 bytes).
constexpr std::size_t kWelcomeMagicAt = 0;
constexpr std::size_t kWelcomeVersionAt = 4;
constexpr std::size_t kWelcomeStatusAt = 6;
constexpr std::size_t kWelcomeConnectionIdAt = 8;
constexpr std::size_t kWelcomeSlotAt = 16;
constexpr std::size_t kWelcomeSegmentSizeAt = 24;  // 20..24 reserved
constexpr std::size_t kWelcomeDoorbellSizeAt = 32;
constexpr std::size_t kWelcomeMessageLenAt = 40;  // 42..48 reserved
constexpr std::size_t kWelcomeMessageAt = 48;     // 48..448; 448..512 reserved
static_assert(kWelcomeMessageAt + kMaxWelcomeMessage + 64 == kWelcomeSize);

constexpr auto kMaxStatus = static_cast<std::uint16_t>(WelcomeStatus::failed);
constexpr auto kMaxCompression = static_cast<std::uint8_t>(Compression::zstd);

template <class T>
void store(std::byte* out, std::size_t at, T value) {
  std::memcpy(out + at, &value, sizeof value);
}

template <class T>
T load(std::span<const std::byte> in, std::size_t at) {
  T value{};
  std::memcpy(&value, in.data() + at, sizeof value);
  return value;
}

bool printable(char c) {
  return c >= 0x20 && c <= 0x7e;
}

// Copies at most `max` characters of `text` to `out`, non-printable ones as '?'; returns
// how many were written.
std::size_t store_text(std::byte* out, std::string_view text, std::size_t max) {
  const std::size_t n = std::min(text.size(), max);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = static_cast<std::byte>(printable(text[i]) ? text[i] : '?');
  }
  return n;
}

bool all_zero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

std::string hex32(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(v));
  return text;
}

Error invalid_hello(const std::string& why) {
  return Error(Errc::invalid_argument, "malformed ferry hello: " + why);
}

}  // namespace

std::array<std::byte, kHelloSize> encode_hello(const Hello& hello) {
  std::array<std::byte, kHelloSize> out{};
  store(out.data(), kHelloMagicAt, kHelloMagic);
  store(out.data(), kHelloVersionAt, hello.version);
  store(out.data(), kHelloFlagsAt, hello.flags);
  store(out.data(), kHelloC2sAt, hello.c2s_capacity);
  store(out.data(), kHelloS2cAt, hello.s2c_capacity);
  store(out.data(), kHelloCompressionAt, static_cast<std::uint8_t>(hello.compression));
  const std::size_t n = store_text(out.data() + kHelloNameAt, hello.name, kMaxClientName);
  store(out.data(), kHelloNameLenAt, static_cast<std::uint8_t>(n));
  return out;
}

Result<Hello> decode_hello(std::span<const std::byte> bytes, std::uint16_t* version_out) {
  // Magic and version sit at the same offsets in every protocol version, so a hello of
  // another version (even of another size) is recognised and answered with bad_version.
  if (bytes.size() < kHelloReserved0At) {
    return Error(Errc::corrupt, "not a ferry hello: " + std::to_string(bytes.size()) +
                                    " bytes, expected " + std::to_string(kHelloSize) +
                                    "; the peer is not a ferry client");
  }
  if (const auto magic = load<std::uint32_t>(bytes, kHelloMagicAt); magic != kHelloMagic) {
    return Error(Errc::corrupt, "not a ferry hello: magic " + hex32(magic) + ", expected " +
                                    hex32(kHelloMagic) +
                                    " (\"FHEL\"); the peer is not a ferry client");
  }
  Hello hello;
  hello.version = load<std::uint16_t>(bytes, kHelloVersionAt);
  if (version_out != nullptr) *version_out = hello.version;
  if (hello.version != kProtocolVersion) {
    return Error(Errc::bad_version, "client speaks protocol version " +
                                        std::to_string(hello.version) + ", this server speaks " +
                                        std::to_string(kProtocolVersion));
  }
  if (bytes.size() != kHelloSize) {
    return Error(Errc::corrupt, "not a ferry hello: " + std::to_string(bytes.size()) +
                                    " bytes, a version-" + std::to_string(kProtocolVersion) +
                                    " hello is " + std::to_string(kHelloSize));
  }
  if (load<std::uint16_t>(bytes, kHelloReserved0At) != 0 ||
      !all_zero(bytes.subspan(kHelloReserved1At, kHelloNameAt - kHelloReserved1At)) ||
      !all_zero(bytes.subspan(kHelloReserved2At))) {
    return invalid_hello("reserved bytes are not zero (a newer client, or a corrupt message)");
  }
  hello.flags = load<std::uint32_t>(bytes, kHelloFlagsAt);
  if ((hello.flags & ~kHelloFlagReconnect) != 0) {
    return invalid_hello("flags " + hex32(hello.flags) + ", but version " +
                         std::to_string(kProtocolVersion) + " defines only " +
                         hex32(kHelloFlagReconnect));
  }
  hello.c2s_capacity = load<std::uint32_t>(bytes, kHelloC2sAt);
  hello.s2c_capacity = load<std::uint32_t>(bytes, kHelloS2cAt);
  const auto compression = load<std::uint8_t>(bytes, kHelloCompressionAt);
  if (compression > kMaxCompression) {
    return invalid_hello("compression " + std::to_string(compression) +
                         " is not one of 0 (none), 1 (lz4), 2 (zstd)");
  }
  hello.compression = static_cast<Compression>(compression);
  const auto name_len = load<std::uint8_t>(bytes, kHelloNameLenAt);
  if (name_len > kMaxClientName) {
    return invalid_hello("client name length " + std::to_string(name_len) + ", at most " +
                         std::to_string(kMaxClientName));
  }
  const auto name = bytes.subspan(kHelloNameAt, name_len);
  if (!std::all_of(name.begin(), name.end(),
                   [](std::byte b) { return printable(static_cast<char>(b)); })) {
    return invalid_hello("the client name has bytes that are not printable ASCII");
  }
  if (!all_zero(bytes.subspan(kHelloNameAt + name_len, kMaxClientName - name_len))) {
    return invalid_hello("bytes after the client name are not zero");
  }
  for (const std::byte b : name) hello.name.push_back(static_cast<char>(b));
  return hello;
}

std::array<std::byte, kWelcomeSize> encode_welcome(const Welcome& welcome) {
  std::array<std::byte, kWelcomeSize> out{};
  store(out.data(), kWelcomeMagicAt, kWelcomeMagic);
  store(out.data(), kWelcomeVersionAt, welcome.version);
  store(out.data(), kWelcomeStatusAt, static_cast<std::uint16_t>(welcome.status));
  store(out.data(), kWelcomeConnectionIdAt, welcome.connection_id);
  store(out.data(), kWelcomeSlotAt, welcome.slot);
  store(out.data(), kWelcomeSegmentSizeAt, welcome.segment_size);
  store(out.data(), kWelcomeDoorbellSizeAt, welcome.doorbell_size);
  const std::size_t n =
      store_text(out.data() + kWelcomeMessageAt, welcome.message, kMaxWelcomeMessage);
  store(out.data(), kWelcomeMessageLenAt, static_cast<std::uint16_t>(n));
  return out;
}

Result<Welcome> decode_welcome(std::span<const std::byte> bytes) {
  if (bytes.size() != kWelcomeSize) {
    return Error(Errc::corrupt, "not a ferry welcome: " + std::to_string(bytes.size()) +
                                    " bytes, expected " + std::to_string(kWelcomeSize) +
                                    "; the peer is not a ferry server");
  }
  if (const auto magic = load<std::uint32_t>(bytes, kWelcomeMagicAt); magic != kWelcomeMagic) {
    return Error(Errc::corrupt, "not a ferry welcome: magic " + hex32(magic) + ", expected " +
                                    hex32(kWelcomeMagic) +
                                    " (\"FWEL\"); the peer is not a ferry server");
  }
  Welcome welcome;
  welcome.version = load<std::uint16_t>(bytes, kWelcomeVersionAt);
  const auto status = load<std::uint16_t>(bytes, kWelcomeStatusAt);
  if (status > kMaxStatus) {
    return Error(Errc::corrupt, "corrupt ferry welcome: status " + std::to_string(status) +
                                    " is not one of 0-" + std::to_string(kMaxStatus));
  }
  welcome.status = static_cast<WelcomeStatus>(status);
  welcome.connection_id = load<std::uint64_t>(bytes, kWelcomeConnectionIdAt);
  welcome.slot = load<std::uint32_t>(bytes, kWelcomeSlotAt);
  welcome.segment_size = load<std::uint64_t>(bytes, kWelcomeSegmentSizeAt);
  welcome.doorbell_size = load<std::uint64_t>(bytes, kWelcomeDoorbellSizeAt);
  const auto message_len = load<std::uint16_t>(bytes, kWelcomeMessageLenAt);
  if (message_len > kMaxWelcomeMessage) {
    return Error(Errc::corrupt, "corrupt ferry welcome: message length " +
                                    std::to_string(message_len) + ", at most " +
                                    std::to_string(kMaxWelcomeMessage));
  }
  welcome.message.resize(message_len);
  for (std::size_t i = 0; i < message_len; ++i) {
    const auto c = static_cast<char>(bytes[kWelcomeMessageAt + i]);
    welcome.message[i] = printable(c) ? c : '?';
  }
  return welcome;
}

}  // namespace ferry::detail
