// SPDX-License-Identifier: Apache-2.0
// ferry/result.hpp: errors as values.
//
// Every fallible ferry call returns a Result<T>: either a value or an Error carrying a
// typed code and a message a person can act on (it names the object and the cause).
// Hot-path errors (would_block, timed_out) carry no message and never allocate.
// Result is shaped like C++23's std::expected<T, Error>: value() of an error throws
// BadResultAccess (its what() is the error's message), value_or, and_then, transform and
// or_else chain calls, and Errc is a std::error_code enum (ferry::error_category(), with
// the std::errc equivalents where there are some: Errc::timed_out == std::errc::timed_out).
// Thread-safety: plain value types; share them like any other value.
#pragma once

#include <cassert>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "ferry/export.hpp"

namespace ferry {

enum class Errc {
  ok = 0,
  would_block,       // ring full (producer) or empty (consumer); retry later
  timed_out,         // a wait ran past its deadline
  too_large,         // a record exceeds the ring's configured maximum
  invalid_argument,  // the caller passed something that can never succeed
  bad_length,        // a frame's length field is impossible
  bad_version,       // a frame or layout has a version this build does not speak
  bad_flags,         // a frame has flags this build does not know or that contradict
  bad_crc,           // a frame's CRC32C does not match its bytes
  bad_sequence,      // a frame's sequence number is not the next one
  corrupt,           // shared memory holds something no correct peer writes
  permission,        // the OS refused access (EACCES/EPERM) or a mode is wrong
  exists,            // the object already exists
  not_found,         // the object does not exist
  no_memory,         // a memory or size limit was hit
  system,            // any other OS error; see the message
  disconnected,      // the peer closed the connection or died
  busy,              // the server is at its connection limit; try again later
  remote,            // the peer answered with an error reply; the message is its text
};

// A short stable name for a code ("would_block", "bad_crc", ...).
FERRY_API std::string_view to_string(Errc code) noexcept;

// The std::error_category of Errc (name "ferry"); its message(c) is to_string(Errc(c)).
FERRY_API const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(Errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

class [[nodiscard]] Error {
 public:
  Error() = default;
  explicit Error(Errc code, std::string message = {}, int sys_errno = 0)
      : code_(code), sys_errno_(sys_errno), message_(std::move(message)) {}

  // Builds an error from errno: the message is "<what>: <strerror(err)>", and the code
  // is mapped from the errno value (EACCES -> permission, ENOENT -> not_found, ...).
  FERRY_API static Error from_errno(int err, std::string_view what);

  Errc code() const noexcept { return code_; }
  int sys_errno() const noexcept { return sys_errno_; }
  // The full human-readable message; never empty (falls back to the code's name).
  FERRY_API std::string message() const;

  // The code as a std::error_code in ferry::error_category().
  std::error_code error_code() const noexcept { return make_error_code(code_); }

  bool operator==(Errc code) const noexcept { return code_ == code; }

 private:
  Errc code_ = Errc::ok;
  int sys_errno_ = 0;
  std::string message_;
};

// What value() of a Result holding an error throws: what() is the error's message.
class FERRY_API BadResultAccess : public std::exception {
 public:
  explicit BadResultAccess(Error error);
  const Error& error() const noexcept { return error_; }
  const char* what() const noexcept override;

 private:
  Error error_;
  std::string what_;
};

template <class T>
class Result;

namespace detail {
template <class R>
struct IsResult : std::false_type {};
template <class T>
struct IsResult<Result<T>> : std::true_type {};
}  // namespace detail

// Result<T>: a T or an Error. Result<void> is success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  using value_type = void;

  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return error_.code() == Errc::ok; }
  bool has_value() const noexcept { return ok(); }
  explicit operator bool() const noexcept { return ok(); }
  // Nothing on success; throws BadResultAccess (carrying the error) on an error.
  void value() const {
    if (!ok()) throw BadResultAccess(error_);
  }
  const Error& error() const& { return error_; }
  Errc code() const noexcept { return error_.code(); }

  // f() -> Result<U>, called only on success.
  template <class F>
  auto and_then(F&& f) const {
    using R = std::remove_cvref_t<std::invoke_result_t<F>>;
    static_assert(detail::IsResult<R>::value, "and_then: f must return a ferry::Result");
    return ok() ? std::invoke(std::forward<F>(f)) : R(error_);
  }
  // f() -> U, made a Result<U>.
  template <class F>
  auto transform(F&& f) const {
    using U = std::remove_cvref_t<std::invoke_result_t<F>>;
    if (!ok()) return Result<U>(error_);
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f));
      return Result<void>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f)));
    }
  }
  // f(error) -> Result<void>, called only on an error.
  template <class F>
  Result or_else(F&& f) const {
    if (ok()) return *this;
    return std::invoke(std::forward<F>(f), error_);
  }

 private:
  Error error_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return ok(); }
  explicit operator bool() const noexcept { return ok(); }

  // The value; throws BadResultAccess (carrying the error) when there is none.
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  // The value, or `fallback` when this holds an error.
  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return ok() ? std::get<0>(std::move(v_)) : static_cast<T>(std::forward<U>(fallback));
  }

  // The error; only when !ok().
  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Errc code() const noexcept { return ok() ? Errc::ok : std::get<1>(v_).code(); }

  // f(value) -> Result<U>, called only on a value; an error passes through unchanged.
  template <class F>
  auto and_then(F&& f) const& {
    using R = std::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    static_assert(detail::IsResult<R>::value, "and_then: f must return a ferry::Result");
    return ok() ? std::invoke(std::forward<F>(f), std::get<0>(v_)) : R(error());
  }
  template <class F>
  auto and_then(F&& f) && {
    using R = std::remove_cvref_t<std::invoke_result_t<F, T&&>>;
    static_assert(detail::IsResult<R>::value, "and_then: f must return a ferry::Result");
    return ok() ? std::invoke(std::forward<F>(f), std::get<0>(std::move(v_)))
                : R(std::get<1>(std::move(v_)));
  }
  // f(value) -> U, made a Result<U> (Result<void> when f returns nothing).
  template <class F>
  auto transform(F&& f) const& {
    using U = std::remove_cvref_t<std::invoke_result_t<F, const T&>>;
    if (!ok()) return Result<U>(error());
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f), std::get<0>(v_));
      return Result<void>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), std::get<0>(v_)));
    }
  }
  template <class F>
  auto transform(F&& f) && {
    using U = std::remove_cvref_t<std::invoke_result_t<F, T&&>>;
    if (!ok()) return Result<U>(std::get<1>(std::move(v_)));
    if constexpr (std::is_void_v<U>) {
      std::invoke(std::forward<F>(f), std::get<0>(std::move(v_)));
      return Result<void>();
    } else {
      return Result<U>(std::invoke(std::forward<F>(f), std::get<0>(std::move(v_))));
    }
  }
  // f(error) -> Result<T>, called only on an error (to recover, or to add context).
  template <class F>
  Result or_else(F&& f) const& {
    if (ok()) return *this;
    return std::invoke(std::forward<F>(f), error());
  }
  template <class F>
  Result or_else(F&& f) && {
    if (ok()) return std::move(*this);
    return std::invoke(std::forward<F>(f), std::get<1>(std::move(v_)));
  }

 private:
  void check() const {
    if (!ok()) throw BadResultAccess(std::get<1>(v_));
  }

  std::variant<T, Error> v_;
};

}  // namespace ferry

template <>
struct std::is_error_code_enum<ferry::Errc> : std::true_type {};
