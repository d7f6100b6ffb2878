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

}  // namespace ferry
