// SPDX-License-Identifier: Apache-2.0
// ferry/wire.hpp: the canonical 24-byte frame header (docs/wire_format.md).
//
//   offset size field
//   0      4    payload length in bytes
//   4      2    message type (routing key)
//   6      1    protocol version
//   7      1    flags
//   8      8    sequence number (per connection and direction)
//   16     4    correlation id (request/response), 0 otherwise
//   20     4    CRC32C over bytes 0-19 and the payload
//
// Little-endian on the wire. decode() copies the header out of the buffer once and
// validates the copy; it never reads past the span it is given.
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ferry/crc32c.hpp"
#include "ferry/export.hpp"
#include "ferry/result.hpp"

namespace ferry::wire {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 24;
inline constexpr std::size_t kCrcCoveredHeaderBytes = 20;
// The largest payload length any frame may carry (the ring's own limit is usually lower).
inline constexpr std::uint32_t kMaxPayload = 0x7fffffffu;

// Flags (byte 7).
inline constexpr std::uint8_t kFlagLz4 = 1u << 0;      // payload is LZ4-compressed
inline constexpr std::uint8_t kFlagZstd = 1u << 1;     // payload is zstd-compressed
inline constexpr std::uint8_t kFlagReply = 1u << 2;    // a reply to correlation id
inline constexpr std::uint8_t kFlagError = 1u << 3;    // an error reply; payload is the message
inline constexpr std::uint8_t kFlagPadding = 1u << 4;  // filler at a ring's wrap; no message
// Sent again after a server died before acknowledging it: that server may have handled it
// (at-least-once); a receiver that must not see it twice dedupes these by its own ids.
inline constexpr std::uint8_t kFlagResent = 1u << 5;
inline constexpr std::uint8_t kKnownFlags =
    kFlagLz4 | kFlagZstd | kFlagReply | kFlagError | kFlagPadding | kFlagResent;

// The decoded header, in host byte order.
struct Header {
  std::uint32_t length = 0;
  std::uint16_t type = 0;
  std::uint8_t version = kVersion;
  std::uint8_t flags = 0;
  std::uint64_t seq = 0;
  std::uint32_t correlation = 0;
  std::uint32_t crc = 0;
};

// Limits a receiver applies while decoding.
struct Limits {
  std::uint32_t max_payload = kMaxPayload;  // larger lengths are Errc::bad_length
  bool check_crc = true;                    // false skips the CRC comparison
};

// Writes `h` (its crc field ignored) into out[0..24) and sets bytes 20..24 to the CRC32C
// of those 20 header bytes followed by `payload`. Returns the CRC written. The header
// bytes the CRC covers are built privately, never read back from `out`: in shared memory
// another process may write there meanwhile, and must not get its fields signed.
FERRY_API std::uint32_t encode(const Header& h, std::span<const std::byte> payload,
                               std::byte* out) noexcept;

// encode() for a payload whose CRC32C the caller has: `payload_crc` of the h.length bytes
// the frame carries, `join` prepared for h.length. Only the header's bytes are read; the
// payload's CRC is joined to theirs (one payload sent behind many headers).
FERRY_API std::uint32_t encode(const Header& h, std::uint32_t payload_crc, const Crc32cJoin& join,
                               std::byte* out) noexcept;

// Writes the 20 CRC-covered header bytes of `h` to out[0..20) (no CRC).
FERRY_API void store_fields(const Header& h, std::byte* out) noexcept;

// Reads the 24 header bytes at `in` into a Header (no validation).
FERRY_API Header load(const std::byte* in) noexcept;

// CRC32C of the 20 header bytes at `header` followed by the payload.
FERRY_API std::uint32_t frame_crc(const std::byte* header,
                                  std::span<const std::byte> payload) noexcept;

// Compares h.crc with the CRC32C of the 20 header bytes at `header` (the caller's copy, from
// which `h` was loaded) followed by `payload`; bad_crc names both values.
FERRY_API Result<void> check_crc(const Header& h, const std::byte* header,
                                 std::span<const std::byte> payload);

// Validates a header copy without looking at any payload: length within limits,
// known version, known and consistent flags (not both compressions; padding alone).
FERRY_API Result<void> validate(const Header& h, const Limits& limits = {});

// Decodes the frame at the start of `frame`: copies the header once, validates it, checks
// that the payload fits in `frame`, and (if limits.check_crc) that the CRC matches.
// Errors: bad_length (short buffer or length over the limit), bad_version, bad_flags,
// bad_crc; each message says what was found and what was expected.
FERRY_API Result<Header> decode(std::span<const std::byte> frame, const Limits& limits = {});

}  // namespace ferry::wire
