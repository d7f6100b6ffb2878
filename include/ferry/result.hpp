// ferry/result.hpp: errors as values.
//
// Every fallible ferry call returns a Result<T>: either a value or an Error carrying a
// typed code and a message a person can act on (it names the object and the cause).
// Hot-path errors (would_block, timed_out) carry no message and never allocate.
// Thread-safety: plain value types; share them like any other value.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
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

  bool operator==(Errc code) const noexcept { return code_ == code; }

 private:
  Errc code_ = Errc::ok;
  int sys_errno_ = 0;
  std::string message_;
};

// Result<T>: a T or an Error. Result<void> is success or an Error.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Errc code() const noexcept { return ok() ? Errc::ok : std::get<1>(v_).code(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return error_.code() == Errc::ok; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { return error_; }
  Errc code() const noexcept { return error_.code(); }

 private:
  Error error_;
};

}  // namespace ferry
