// SPDX-License-Identifier: Apache-2.0
// CRC32C on little-endian AArch64: the ARMv8 CRC extension, one stream of crc32cx.
#include "crc/crc32c_impl.hpp"

#if defined(__AARCH64EL__)

#include <arm_acle.h>
#include <sys/auxv.h>

#include <cstring>

#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)  // from the kernel's asm/hwcap.h, for older C libraries
#endif

// GCC spells the extension "+crc" in target attributes, clang 14 "crc"; and clang 14's
// arm_acle.h declares __crc32c* only when the whole file is built for it, so use builtins.
#if defined(__clang__)
#define FERRY_TARGET_CRC __attribute__((target("crc")))
#define FERRY_CRC32C(suffix) __builtin_arm_crc32c##suffix
#else
#define FERRY_TARGET_CRC __attribute__((target("+crc")))
#define FERRY_CRC32C(suffix) __crc32c##suffix
#endif

namespace ferry::detail {
namespace {

template <class T>
T load(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

bool crc32c_hw_available() noexcept {
  return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}

FERRY_TARGET_CRC
std::uint32_t crc32c_hw(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (; size >= 8; p += 8, size -= 8) c = FERRY_CRC32C(d)(c, load<std::uint64_t>(p));
  if (size & 4) {
    c = FERRY_CRC32C(w)(c, load<std::uint32_t>(p));
    p += 4;
  }
  if (size & 2) {
    c = FERRY_CRC32C(h)(c, load<std::uint16_t>(p));
    p += 2;
  }
  if (size & 1) c = FERRY_CRC32C(b)(c, *p);
  return ~c;
}

}  // namespace ferry::detail

#endif  // __AARCH64EL__
