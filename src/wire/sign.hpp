// SPDX-License-Identifier: Apache-2.0
// sign.hpp: writing and signing a frame header (ferry/wire.hpp), inline so that a ring
// producer that has just built a Header keeps its fields in registers.
//
// The CRC reads the header bytes back right after they are built, and a load that spans
// several smaller stores still in the store buffer is not forwarded from them: it waits until
// they, and every store before them, are in the cache. Before them is the payload just
// copied into ring lines that the other side's CPU last held, so that wait is a round trip
// between CPUs per line. So the 20 covered bytes are stored as the three words the CRC reads
// (8, 8 and 4 bytes; crc32c_x86.cpp reads whole words first), composed from the fields'
// values. Inlined into the ring's commit, those values stay in registers; a compiler may
// merge the reads of a Header in memory into one word, which would wait on the field
// stores the same way.
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

#include "ferry/crc32c.hpp"
#include "ferry/wire.hpp"

namespace ferry::wire::detail {

template <class T>
constexpr T byteswap(T v) noexcept {  // std::byteswap arrives in C++23
  auto bytes = std::bit_cast<std::array<std::byte, sizeof v>>(v);
  std::reverse(bytes.begin(), bytes.end());
  return std::bit_cast<T>(bytes);
}
static_assert(byteswap(std::uint32_t{0x11223344}) == 0x44332211);

static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "mixed-endian hosts are not supported");

// A value in little-endian byte order (and back: the swap is its own inverse).
template <class T>
constexpr T little_endian(T v) noexcept {
  if constexpr (std::endian::native == std::endian::big) return byteswap(v);
  return v;
}

// The 20 covered bytes: length, type, version and flags as one word; seq; correlation.
inline void put_covered(const Header& h, std::byte* out) noexcept {
  const std::uint64_t first = std::uint64_t{h.length} | std::uint64_t{h.type} << 32 |
                              std::uint64_t{h.version} << 48 | std::uint64_t{h.flags} << 56;
  const std::uint64_t words[2] = {little_endian(first), little_endian(h.seq)};
  const std::uint32_t correlation = little_endian(h.correlation);
  std::memcpy(out, &words[0], 8);
  std::memcpy(out + 8, &words[1], 8);
  std::memcpy(out + 16, &correlation, 4);
}

// Builds the covered bytes privately, signs them with crc_of(them), writes the header out.
template <class CrcOf>
std::uint32_t sign(const Header& h, std::byte* out, CrcOf crc_of) noexcept {
  alignas(8) std::byte raw[kCrcCoveredHeaderBytes];
  put_covered(h, raw);
  const std::uint32_t crc = crc_of(raw);
  put_covered(h, out);  // from the values again: copying `raw` would read it across its stores
  const std::uint32_t stored = little_endian(crc);
  std::memcpy(out + kCrcCoveredHeaderBytes, &stored, 4);
  return crc;
}

// wire::encode(), both forms.
inline std::uint32_t encode(const Header& h, std::span<const std::byte> payload,
                            std::byte* out) noexcept {
  return sign(h, out, [&](const std::byte* raw) { return frame_crc(raw, payload); });
}
inline std::uint32_t encode(const Header& h, std::uint32_t payload_crc, const Crc32cJoin& join,
                            std::byte* out) noexcept {
  return sign(h, out, [&](const std::byte* raw) {
    return join(crc32c(raw, kCrcCoveredHeaderBytes), payload_crc);
  });
}

}  // namespace ferry::wire::detail
