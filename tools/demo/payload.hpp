// tools/demo/payload.hpp: what ferry-demo's messages carry, and how receivers check it.
//
// Every payload starts with a 32-byte Head; data messages and requests continue with
// 64-bit words that follow from (who, seq), so a receiver can check every byte without
// knowing anything but the head:
//
//   data     Head{kData, publisher, seq, stamp} + pattern    publisher -> subscribers
//   end      Head{kEnd, publisher, count, stamp}             after a publisher's last data
//   request  Head{kRequest, requester, seq, stamp} + pattern requester -> a server
//   reply    every byte of the request inverted              server -> requester
//
// `stamp` is CLOCK_MONOTONIC (ferry::tools::now_ns()) just before the send call; the receiver's
// clock minus it is the one-way latency (one machine, one clock). Sizes are multiples of 8.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ferry::demo {

inline constexpr std::uint32_t kData = 0x54414446;     // "FDAT"
inline constexpr std::uint32_t kEnd = 0x444e4546;      // "FEND"
inline constexpr std::uint32_t kRequest = 0x51455246;  // "FREQ"

// Message types on the bus.
inline constexpr std::uint16_t kPublishType = 7100;
inline constexpr std::uint16_t kRequestType = 7200;

struct Head {
  std::uint32_t kind = 0;
  std::uint32_t who = 0;  // the publisher's or requester's index
  std::uint64_t seq = 0;  // kEnd: the number of sequence numbers the publisher used
  std::int64_t stamp_ns = 0;
  std::uint64_t reserved = 0;
};
static_assert(sizeof(Head) == 32);

inline constexpr std::size_t kMinSize = sizeof(Head) + 8;

// Writes a head and the pattern of (who, seq) into `out` (size a multiple of 8, >= 40).
void fill(std::span<std::byte> out, std::uint32_t kind, std::uint32_t who, std::uint64_t seq,
          std::int64_t stamp_ns) noexcept;
// Reads the head of `in` (false when it is shorter than a head).
bool read_head(std::span<const std::byte> in, Head& head) noexcept;
// Whether the bytes after the head are the pattern of (head.who, head.seq).
bool pattern_ok(std::span<const std::byte> in, const Head& head) noexcept;
// The server's transform: every byte inverted.
void invert(std::span<const std::byte> in, std::span<std::byte> out) noexcept;
// Whether `reply` is `request` inverted.
bool is_inverse(std::span<const std::byte> request, std::span<const std::byte> reply) noexcept;

}  // namespace ferry::demo
