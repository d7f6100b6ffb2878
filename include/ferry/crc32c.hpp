// SPDX-License-Identifier: Apache-2.0
// ferry/crc32c.hpp: CRC32C (Castagnoli), for ferry's frames and for applications that
// checksum their own data.
//
// Uses the CPU's CRC instructions where present (SSE4.2 on x86-64, with carry-less
// multiplication to combine independent streams; the CRC extension on ARMv8) and a
// portable table-driven fallback elsewhere; the choice is made once, at run time.
// Thread-safety: pure function, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ferry/export.hpp"

namespace ferry {

// CRC32C of `size` bytes at `data`. Pass a previous result as `crc` to continue it over
// more data: crc32c(b, nb, crc32c(a, na)) == crc32c(a followed by b).
// crc32c("123456789", 9) == 0xE3069283.
FERRY_API std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept;

// Joins the CRC32Cs of two buffers `a` and `b` into that of `a` followed by `b`, without
// reading either buffer again; prepared for one size of `b`. With carry-less multiplication
// (x86-64) preparing one and joining each take a few nanoseconds; elsewhere a join is a
// slower bitwise multiplication. One payload's CRC joined to many different headers' is how
// a fan-out signs each copy of it:
//   Crc32cJoin(nb)(crc32c(a, na), crc32c(b, nb)) == crc32c(b, nb, crc32c(a, na))
class FERRY_API Crc32cJoin {
 public:
  explicit Crc32cJoin(std::size_t size_b = 0) noexcept;
  std::uint32_t operator()(std::uint32_t crc_a, std::uint32_t crc_b) const noexcept;
  std::size_t size_b() const noexcept { return size_b_; }

 private:
  std::size_t size_b_;
  std::uint32_t key_;  // what moves crc_a past size_b bytes (its form is the implementation's)
};

}  // namespace ferry
