// SPDX-License-Identifier: Apache-2.0
// crc/crc32c_impl.hpp: the CRC32C implementations behind ferry::crc32c, exposed so tests
// and benchmarks can compare them with each other.
//
// Every function here follows the public convention: `crc` is a previous result (0 to
// start), the ~0 initial value and final inversion are applied inside.
// Thread-safety: pure functions, safe from any thread.
#pragma once

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

// Table-driven (slicing-by-8); runs anywhere.
std::uint32_t crc32c_portable(const void* data, std::size_t size, std::uint32_t crc) noexcept;

// True when this CPU has the instructions crc32c_hw needs (SSE4.2 and PCLMULQDQ on
// x86-64, the CRC extension on AArch64). Always false on other architectures.
bool crc32c_hw_available() noexcept;

// CPU instructions; call only when crc32c_hw_available() is true.
std::uint32_t crc32c_hw(const void* data, std::size_t size, std::uint32_t crc) noexcept;

}  // namespace ferry::detail
