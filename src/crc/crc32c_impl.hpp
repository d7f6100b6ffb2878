// SPDX-License-Identifier: Apache-2.0
// crc/crc32c_impl.hpp: the CRC32C implementations behind ferry::crc32c, exposed so tests
// and benchmarks can compare them with each other.
//
// Every function here follows the public convention: `crc` is a previous result (0 to
// start), the ~0 initial value and final inversion are applied inside.
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

// Architectures with a crc32c_hw of their own (crc32c_x86.cpp, crc32c_arm.cpp); elsewhere
// crc32c_hw_available() is false and crc32c_hw is the portable code.
#if defined(__x86_64__) || defined(__AARCH64EL__)
#define FERRY_CRC32C_HAVE_HW 1
#else
#define FERRY_CRC32C_HAVE_HW 0
#endif

namespace ferry::detail {

// The reflected Castagnoli polynomial, 0x1EDC6F41 bit-reversed.
inline constexpr std::uint32_t kCrc32cPoly = 0x82F63B78u;

// Polynomials mod P in the reflected representation (bit 31 is the coefficient of x^0):
// the arithmetic behind Crc32cJoin. A CRC state c moved past k zero bits is c * x^k.
inline constexpr std::uint32_t kCrc32cOne = 1u << 31;  // x^0

constexpr std::uint32_t crc32c_mul_x(std::uint32_t v) noexcept {
  return (v >> 1) ^ (kCrc32cPoly & (0u - (v & 1u)));
}

// v / x: P's x^0 term is 1, so x has an inverse.
constexpr std::uint32_t crc32c_div_x(std::uint32_t v) noexcept {
  return (v & kCrc32cOne) != 0 ? ((v ^ kCrc32cPoly) << 1) | 1u : v << 1;
}

// a * b mod P, bit by bit (tables, the portable join).
constexpr std::uint32_t crc32c_mulmod(std::uint32_t a, std::uint32_t b) noexcept {
  std::uint32_t product = 0;
  for (std::uint32_t m = kCrc32cOne; m != 0; m >>= 1) {
    if ((a & m) != 0) product ^= b;
    b = crc32c_mul_x(b);
  }
  return product;
}

// The powers a join's key is made of: kCrc32cPowBytes[r] = x^(8r) mod P, and
// kCrc32cPowWords[j] = x^(64 * 2^j) mod P (enough for any std::size_t count of bytes).
inline constexpr std::array<std::uint32_t, 8> kCrc32cPowBytes = [] {
  std::array<std::uint32_t, 8> k{};
  std::uint32_t v = kCrc32cOne;
  for (auto& pow : k) {
    pow = v;
    for (int bit = 0; bit < 8; ++bit) v = crc32c_mul_x(v);
  }
  return k;
}();

inline constexpr std::array<std::uint32_t, 61> kCrc32cPowWords = [] {
  std::array<std::uint32_t, 61> k{};
  std::uint32_t v = kCrc32cOne;
  for (int bit = 0; bit < 64; ++bit) v = crc32c_mul_x(v);
  for (auto& pow : k) {
    pow = v;
    v = crc32c_mulmod(v, v);
  }
  return k;
}();

// A join's key for `bytes` bytes, built the same way in either arithmetic: byte_keys[bytes %
// 8], multiplied with `times` by word_keys[j] for every bit j of the whole words (bytes / 8).
template <class Times>
std::uint32_t crc32c_join_key(std::size_t bytes, const std::array<std::uint32_t, 8>& byte_keys,
                              const std::array<std::uint32_t, 61>& word_keys,
                              Times times) noexcept {
  std::uint32_t key = byte_keys[bytes % 8];
  std::size_t j = 0;
  for (std::size_t words = bytes / 8; words != 0; words >>= 1, ++j) {
    if ((words & 1u) != 0) key = times(key, word_keys[j]);
  }
  return key;
}

// Table-driven (slicing-by-8); runs anywhere.
std::uint32_t crc32c_portable(const void* data, std::size_t size, std::uint32_t crc) noexcept;

// True when this CPU has the instructions crc32c_hw needs (SSE4.2 and PCLMULQDQ on
// x86-64, the CRC extension on AArch64). Always false on other architectures.
bool crc32c_hw_available() noexcept;

// CPU instructions; call only when crc32c_hw_available() is true.
std::uint32_t crc32c_hw(const void* data, std::size_t size, std::uint32_t crc) noexcept;

// The portable join's key for moving a CRC past `bytes` bytes: x^(8 * bytes) mod P, applied
// with crc32c_mulmod().
std::uint32_t crc32c_portable_join_key(std::size_t bytes) noexcept;

#if defined(__x86_64__)
// Crc32cJoin with carry-less multiplication (when crc32c_hw_available()): the key
// for moving a CRC past `bytes` bytes, x^(8 * bytes - 33) mod P, and the move itself.
std::uint32_t crc32c_hw_join_key(std::size_t bytes) noexcept;
std::uint32_t crc32c_hw_shift(std::uint32_t crc, std::uint32_t key) noexcept;
#endif

}  // namespace ferry::detail
