// SPDX-License-Identifier: Apache-2.0
// ferry::crc32c: picks the fastest implementation in crc32c_impl.hpp once, on first use.
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

}  // namespace detail

std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc) noexcept {
  using Impl = std::uint32_t (*)(const void*, std::size_t, std::uint32_t) noexcept;
  // Thread-safe one-time initialisation; afterwards a load and a predictable branch.
  static const Impl impl =
      detail::crc32c_hw_available() ? detail::crc32c_hw : detail::crc32c_portable;
  return impl(data, size, crc);
}

}  // namespace ferry
