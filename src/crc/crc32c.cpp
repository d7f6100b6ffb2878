// SPDX-License-Identifier: Apache-2.0
// ferry::crc32c and Crc32cJoin: pick the fastest implementation in crc32c_impl.hpp once, on
// first use.
#include "ferry/crc32c.hpp"

#include "crc/crc32c_impl.hpp"

namespace ferry {
namespace detail {

#if !FERRY_CRC32C_HAVE_HW
bool crc32c_hw_available() noexcept {
  return false;
}

std::uint32_t crc32c_hw(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  return crc32c_portable(data, size, crc);
}
#endif

std::uint32_t crc32c_portable_join_key(std::size_t bytes) noexcept {
  return crc32c_join_key(bytes, kCrc32cPowBytes, kCrc32cPowWords, crc32c_mulmod);
}

namespace {

// Whether crc32c_hw_join_key()/crc32c_hw_shift() are the join's arithmetic.
bool join_in_hw() noexcept {
#if defined(__x86_64__)
  static const bool hw = crc32c_hw_available();
  return hw;
#else
  return false;
#endif
}

std::uint32_t join_key(std::size_t bytes) noexcept {
#if defined(__x86_64__)
  if (join_in_hw()) return crc32c_hw_join_key(bytes);
#endif
  return crc32c_portable_join_key(bytes);
}

}  // namespace
}  // namespace detail

Crc32cJoin::Crc32cJoin(std::size_t size_b) noexcept
    : size_b_(size_b), key_(detail::join_key(size_b)) {}

std::uint32_t Crc32cJoin::operator()(std::uint32_t crc_a, std::uint32_t crc_b) const noexcept {
  // With the ~0 start and end of both CRCs: crc(a b) == crc(a) * x^(8 |b|) ^ crc(b).
#if defined(__x86_64__)
  if (detail::join_in_hw()) return detail::crc32c_hw_shift(crc_a, key_) ^ crc_b;
#endif
  return detail::crc32c_mulmod(crc_a, key_) ^ crc_b;
}

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  using Impl = std::uint32_t (*)(const void*, std::size_t, std::uint32_t) noexcept;
  // Thread-safe one-time initialisation; afterwards a load and a predictable branch.
  static const Impl impl =
      detail::crc32c_hw_available() ? detail::crc32c_hw : detail::crc32c_portable;
  return impl(data, size, crc);
}

}  // namespace ferry
