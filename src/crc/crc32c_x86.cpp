// SPDX-License-Identifier: Apache-2.0
// CRC32C on x86-64: three interleaved streams of the SSE4.2 crc32 instruction, joined with
// carry-less multiplication (the approach of Intel's crc_pcl and the Linux kernel).
//
// crc32 has a latency of 3 cycles and a throughput of 1 per cycle, so one stream uses a
// third of what the CPU can do; three independent streams over three runs of the buffer
// keep it busy, and pclmul moves the first two CRCs past the runs that follow them.
#include "crc/crc32c_impl.hpp"

#if defined(__x86_64__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>

// The instructions used here, enabled per function: the build targets baseline x86-64.
#define FERRY_TARGET_CRC __attribute__((target("sse4.2,pclmul")))

namespace ferry::detail {
namespace {

// Buffers of fewer than 3 * kMinWords 8-byte words go through one stream; longer ones in
// passes of three runs, at most kMaxWords words each (6 KiB a pass; joining costs ~2%).
constexpr std::size_t kMinWords = 2;
constexpr std::size_t kMaxWords = 256;

// v * x^k mod P, in the reflected representation (bit i is the coefficient of x^(31-i)).
constexpr std::uint32_t mul_xpow(std::uint32_t v, std::size_t k) {
  for (; k > 0; --k) v = crc32c_mul_x(v);
  return v;
}

// kShifts[m] = x^(64m - 33) mod P. crc32(0, clmul(c, kShifts[m])) == c * x^(64m) mod P,
// the CRC state c moved past m words of zeros: crc32 multiplies by x^32, and a reflected
// 32x32-bit product lands one bit low in its 64 bits, which accounts for x^1 more.
constexpr std::array<std::uint32_t, 2 * kMaxWords + 3> make_shifts() {
  std::array<std::uint32_t, 2 * kMaxWords + 3> s{};
  s[1] = 1;  // x^31: bit 0
  for (std::size_t m = 2; m < s.size(); ++m) s[m] = mul_xpow(s[m - 1], 64);
  return s;
}

constexpr auto kShifts = make_shifts();

template <class T>
T load(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The carry-less product of c and key.
FERRY_TARGET_CRC std::uint64_t clmul(std::uint64_t c, std::uint32_t key) noexcept {
  const __m128i k = _mm_cvtsi32_si128(static_cast<int>(key));
  const __m128i product =
      _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<long long>(c)), k, 0x00);
  return static_cast<std::uint64_t>(_mm_cvtsi128_si64(product));
}

// clmul(c, kShifts[words]): ready for crc32 to finish moving c past `words` words.
FERRY_TARGET_CRC std::uint64_t shift(std::uint64_t c, std::size_t words) noexcept {
  return clmul(c, kShifts[words]);
}

// The join's keys: kJoinBytes[r] = x^(8r - 33) mod P, kJoinWords[j] = x^(64 * 2^j - 33)
// mod P, so that crc32(0, clmul(v, kJoinWords[j])) == v * x^(64 * 2^j).
constexpr std::uint32_t kInverseX33 = [] {
  std::uint32_t v = kCrc32cOne;
  for (int i = 0; i < 33; ++i) v = crc32c_div_x(v);
  return v;
}();

constexpr std::array<std::uint32_t, 8> kJoinBytes = [] {
  std::array<std::uint32_t, 8> k{};
  for (std::size_t r = 0; r < k.size(); ++r) k[r] = crc32c_mulmod(kCrc32cPowBytes[r], kInverseX33);
  return k;
}();

constexpr std::array<std::uint32_t, 61> kJoinWords = [] {
  std::array<std::uint32_t, 61> k{};
  for (std::size_t j = 0; j < k.size(); ++j) k[j] = crc32c_mulmod(kCrc32cPowWords[j], kInverseX33);
  return k;
}();

}  // namespace

bool crc32c_hw_available() noexcept {
  __builtin_cpu_init();  // needed when called from a constructor that runs before libgcc's
  return __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul");
}

FERRY_TARGET_CRC
std::uint32_t crc32c_hw(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t c0 = ~crc;
  std::size_t words = size / 8;
  while (words >= 3 * kMinWords) {
    // Runs of n, n and n2 words; the last pass gives the 0-2 odd words to run 2, which
    // ends last anyway while runs 0 and 1 are shifted.
    const std::size_t n = std::min(words / 3, kMaxWords);
    const std::size_t n2 = words / 3 <= kMaxWords ? words - 2 * n : n;
    const unsigned char* const p1 = p + 8 * n;
    const unsigned char* const p2 = p1 + 8 * n;
    const std::size_t last = 8 * (n - 1);
    std::uint64_t c1 = 0;
    std::uint64_t c2 = 0;
    for (std::size_t i = 0; i < last; i += 8) {
      c0 = _mm_crc32_u64(c0, load<std::uint64_t>(p + i));
      c1 = _mm_crc32_u64(c1, load<std::uint64_t>(p1 + i));
      c2 = _mm_crc32_u64(c2, load<std::uint64_t>(p2 + i));
    }
    c0 = _mm_crc32_u64(c0, load<std::uint64_t>(p + last));
    c1 = _mm_crc32_u64(c1, load<std::uint64_t>(p1 + last));
    const std::size_t last2 = 8 * (n2 - 1);
    for (std::size_t i = last; i < last2; i += 8)
      c2 = _mm_crc32_u64(c2, load<std::uint64_t>(p2 + i));
    // Move c0 past runs 1 and 2 and c1 past run 2, folding both into run 2's last word:
    // crc32(c2, w ^ x) == crc32(c2, w) ^ crc32(0, x), and the CRC starting from 0 is linear.
    c0 = _mm_crc32_u64(c2, load<std::uint64_t>(p2 + last2) ^ shift(c0, n + n2) ^ shift(c1, n2));
    p = p2 + 8 * n2;
    words -= 2 * n + n2;
  }
  for (; words > 0; --words, p += 8) c0 = _mm_crc32_u64(c0, load<std::uint64_t>(p));
  // The bytes that do not fill a word last, so that the words start where the data does: a
  // frame header just written in words is read back in the same words (wire/sign.hpp says
  // why that matters).
  auto c = static_cast<std::uint32_t>(c0);
  if (size & 4) {
    c = _mm_crc32_u32(c, load<std::uint32_t>(p));
    p += 4;
  }
  if (size & 2) {
    c = _mm_crc32_u16(c, load<std::uint16_t>(p));
    p += 2;
  }
  if (size & 1) c = _mm_crc32_u8(c, *p);
  return ~c;
}

FERRY_TARGET_CRC std::uint32_t crc32c_hw_shift(std::uint32_t crc, std::uint32_t key) noexcept {
  return static_cast<std::uint32_t>(_mm_crc32_u64(0, clmul(crc, key)));
}

std::uint32_t crc32c_hw_join_key(std::size_t bytes) noexcept {
  return crc32c_join_key(bytes, kJoinBytes, kJoinWords, crc32c_hw_shift);
}

}  // namespace ferry::detail

#endif  // __x86_64__
