// SPDX-License-Identifier: Apache-2.0
// bench/workload/payload.hpp: what every benchmark message carries, and the checks every
// receiver makes (docs/bench.md, "How messages are checked").
//
// Layout of a payload of `size` bytes (little-endian, size >= 24):
//   0  u64 time stamp (CLOCK_MONOTONIC ns; 0 where no latency is measured)
//   8  u64 sequence number, per producer, from 0
//   16 u32 producer id (reply payloads: kReplyTag | the client's id)
//   20 u32 check: the high half of seed(producer, seq)
//   24 ... 8-byte word k (k >= 3) = seed ^ (k * golden ratio); a partial last word keeps
//          its low bytes.
// A receiver checks the header, the tail and five words spread over the payload of every
// message, and every byte of each message whose sequence number is a multiple of 64.
//
// Thread-safety: plain functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace ferry::bench {

inline constexpr std::size_t kHeaderBytes = 24;
inline constexpr std::uint32_t kReplyTag = 0x8000'0000u;
// Every 64th message (by sequence number) is checked byte for byte.
inline constexpr std::uint64_t kFullCheckEvery = 64;

struct PayloadHead {
  std::uint64_t stamp_ns = 0;
  std::uint64_t seq = 0;
  std::uint32_t producer = 0;
};

// Writes the payload of message `seq` of `producer` (out.size() >= kHeaderBytes).
void fill_payload(std::span<std::byte> out, std::uint32_t producer, std::uint64_t seq,
                  std::uint64_t stamp_ns) noexcept;

// The header of `in` if it is `size` bytes and its content is what fill_payload() writes
// for the producer and sequence number it names; nullopt if anything differs.
std::optional<PayloadHead> check_payload(std::span<const std::byte> in, std::size_t size) noexcept;

// The last message of a producer: "FEND", its id, and the sequence number it would have
// sent next. Shorter than any data payload, so a stream of frames tells them apart.
inline constexpr std::size_t kEndBytes = 16;
std::array<std::byte, kEndBytes> encode_end(std::uint32_t producer,
                                            std::uint64_t next_seq) noexcept;
struct EndMarker {
  std::uint32_t producer = 0;
  std::uint64_t next_seq = 0;
};
std::optional<EndMarker> decode_end(std::span<const std::byte> in) noexcept;

}  // namespace ferry::bench
