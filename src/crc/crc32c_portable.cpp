// SPDX-License-Identifier: Apache-2.0
// Portable CRC32C: slicing-by-8 over tables built at compile time.
#include <array>
#include <bit>
#include <cstring>

#include "crc/crc32c_impl.hpp"

namespace ferry::detail {
namespace {

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

// kTables[0][b] is the CRC of byte b; kTables[k][b] that of b followed by k zero bytes.
constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ (kCrc32cPoly & (0u - (c & 1u)));
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < t.size(); ++k)
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  return t;
}

constexpr Tables kTables = make_tables();

std::uint64_t load_le64(const unsigned char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

}  // namespace

std::uint32_t crc32c_portable(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (; size >= 8; p += 8, size -= 8) {
    // Only the low half of the word meets the running CRC; the high half's lookups do not
    // wait for it.
    const std::uint64_t w = load_le64(p);
    const std::uint32_t hi = kTables[3][(w >> 32) & 0xffu] ^ kTables[2][(w >> 40) & 0xffu] ^
                             kTables[1][(w >> 48) & 0xffu] ^ kTables[0][w >> 56];
    const std::uint32_t lo = static_cast<std::uint32_t>(w) ^ c;
    c = hi ^ kTables[7][lo & 0xffu] ^ kTables[6][(lo >> 8) & 0xffu] ^
        kTables[5][(lo >> 16) & 0xffu] ^ kTables[4][lo >> 24];
  }
  for (; size > 0; ++p, --size) c = (c >> 8) ^ kTables[0][(c ^ *p) & 0xffu];
  return ~c;
}

}  // namespace ferry::detail
