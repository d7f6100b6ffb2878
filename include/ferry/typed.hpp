// SPDX-License-Identifier: Apache-2.0
// ferry/typed.hpp: zero-copy typed payloads for trivially-copyable structs (header-only).
//
// The sender sends bytes_of(value); the receiver reads the payload in place with view_as<T>
// (or view_array_as<T> for several), which checks the size and the alignment first, so a
// short or misplaced payload is an error value, never a read past the payload. Both sides
// must agree on T's layout (same definition, same ABI): prefer fixed-width members and
// explicit padding fields, and zero-initialise values before sending them, since padding
// bytes go to the other process as they are. A ring's payloads are 8-byte aligned.
// Thread-safety: pure functions, safe from any thread. A view is valid as long as the
// payload it points into (e.g. until the ring record is released).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "ferry/message.hpp"
#include "ferry/result.hpp"

namespace ferry {
namespace typed_detail {

// T's name as the compiler spells it ("Trade", "ns::Quote"), for error messages.
template <class T>
constexpr std::string_view type_name() noexcept {
#if defined(__clang__) || defined(__GNUC__)
  // GCC: "... type_name() [with T = Trade; std::string_view = ...]", clang: "... [T = Trade]"
  std::string_view s = __PRETTY_FUNCTION__;
  const std::size_t start = s.find("T = ");
  if (start == std::string_view::npos) return "T";
  s.remove_prefix(start + 4);
  std::size_t end = s.find("; ");  // GCC lists the other template names after T
  if (end == std::string_view::npos) end = s.rfind(']');
  return end == std::string_view::npos ? s : s.substr(0, end);
#else
  return "T";
#endif
}

template <class T>
constexpr void check_viewable() noexcept {
  static_assert(std::is_trivially_copyable_v<T>,
                "typed payloads must be trivially copyable: they are read in place");
  static_assert(!std::is_pointer_v<T> && !std::is_member_pointer_v<T>,
                "a pointer means nothing in another process; send the data it points to");
}

inline std::string hex_address(std::uintptr_t v) {
  std::string s;
  do {
    s.insert(s.begin(), "0123456789abcdef"[v & 0xfu]);
    v >>= 4;
  } while (v != 0);
  return "0x" + s;
}

template <class T>
Result<void> check_alignment(const std::byte* data) {
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  if (address % alignof(T) == 0) return {};
  return Error(Errc::invalid_argument,
               "payload at address " + hex_address(address) + " is not aligned to alignof(" +
                   std::string(type_name<T>()) + ") = " + std::to_string(alignof(T)) +
                   "; copy it into a " + std::string(type_name<T>()) + " instead");
}

}  // namespace typed_detail

// Views a payload as a T in place: T must be trivially copyable (static_assert); the payload
// size must equal sizeof(T) (bad_length, message names both sizes and the type) and its
// address must be aligned to alignof(T) (invalid_argument). Returns a pointer into the payload.
template <class T>
Result<const T*> view_as(std::span<const std::byte> payload) {
  typed_detail::check_viewable<T>();
  if (payload.size() != sizeof(T)) {
    return Error(Errc::bad_length, "payload is " + std::to_string(payload.size()) + " bytes, but " +
                                       std::string(typed_detail::type_name<T>()) + " is " +
                                       std::to_string(sizeof(T)) + " bytes");
  }
  if (auto aligned = typed_detail::check_alignment<T>(payload.data()); !aligned) {
    return aligned.error();
  }
  return std::launder(reinterpret_cast<const T*>(payload.data()));
}

// The same for a named message type (ferry/message.hpp): view_as(kQuote, m.payload).
template <std::uint16_t Id, class Payload>
Result<const Payload*> view_as(MessageType<Id, Payload> /*type*/,
                               std::span<const std::byte> payload) {
  return view_as<Payload>(payload);
}

// Views a payload as an array of T in place: the size must be a multiple of sizeof(T)
// (bad_length) and, unless the payload is empty, the address aligned to alignof(T)
// (invalid_argument). An empty payload is an empty span.
template <class T>
Result<std::span<const T>> view_array_as(std::span<const std::byte> payload) {
  typed_detail::check_viewable<T>();
  if (payload.size() % sizeof(T) != 0) {
    return Error(Errc::bad_length, "payload is " + std::to_string(payload.size()) +
                                       " bytes, not a multiple of " +
                                       std::string(typed_detail::type_name<T>()) + "'s " +
                                       std::to_string(sizeof(T)) + " bytes");
  }
  if (payload.empty()) return std::span<const T>();
  if (auto aligned = typed_detail::check_alignment<T>(payload.data()); !aligned) {
    return aligned.error();
  }
  return std::span<const T>(std::launder(reinterpret_cast<const T*>(payload.data())),
                            payload.size() / sizeof(T));
}

// The bytes of a trivially-copyable value, to send. They alias `value`. (For an array, send
// std::as_bytes(std::span(values)) and read it with view_array_as.)
template <class T>
std::span<const std::byte> bytes_of(const T& value) noexcept {
  typed_detail::check_viewable<T>();
  return std::as_bytes(std::span<const T>(std::addressof(value), 1));
}

}  // namespace ferry
