// SPDX-License-Identifier: Apache-2.0
// Error names and errno mapping for ferry/result.hpp.
#include "ferry/result.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace ferry {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::would_block: return "would_block";
    case Errc::timed_out: return "timed_out";
    case Errc::too_large: return "too_large";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::bad_length: return "bad_length";
    case Errc::bad_version: return "bad_version";
    case Errc::bad_flags: return "bad_flags";
    case Errc::bad_crc: return "bad_crc";
    case Errc::bad_sequence: return "bad_sequence";
    case Errc::corrupt: return "corrupt";
    case Errc::permission: return "permission";
    case Errc::exists: return "exists";
    case Errc::not_found: return "not_found";
    case Errc::no_memory: return "no_memory";
    case Errc::system: return "system";
    case Errc::disconnected: return "disconnected";
    case Errc::busy: return "busy";
    case Errc::remote: return "remote";
  }
  return "unknown";
}

Error Error::from_errno(int err, std::string_view what) {
  Errc code = Errc::system;
  switch (err) {
    case EACCES:
    case EPERM: code = Errc::permission; break;
    case ENOENT: code = Errc::not_found; break;
    case EEXIST: code = Errc::exists; break;
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EFBIG: code = Errc::no_memory; break;
    case EINVAL: code = Errc::invalid_argument; break;
    case EAGAIN: code = Errc::would_block; break;
    case ETIMEDOUT: code = Errc::timed_out; break;
    case EPIPE:
    case ECONNRESET: code = Errc::disconnected; break;
    default: break;
  }
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  return Error(code, std::move(msg), err);
}

namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ferry"; }
  std::string message(int c) const override { return std::string(to_string(static_cast<Errc>(c))); }
  // The portable condition each code stands for, where one fits.
  std::error_condition default_error_condition(int c) const noexcept override {
    switch (static_cast<Errc>(c)) {
      case Errc::would_block: return std::errc::operation_would_block;
      case Errc::timed_out: return std::errc::timed_out;
      case Errc::too_large: return std::errc::message_size;
      case Errc::invalid_argument: return std::errc::invalid_argument;
      case Errc::bad_length:
      case Errc::bad_version:
      case Errc::bad_flags:
      case Errc::bad_crc:
      case Errc::bad_sequence:
      case Errc::corrupt: return std::errc::bad_message;
      case Errc::permission: return std::errc::permission_denied;
      case Errc::exists: return std::errc::file_exists;
      case Errc::not_found: return std::errc::no_such_file_or_directory;
      case Errc::no_memory: return std::errc::not_enough_memory;
      case Errc::disconnected: return std::errc::connection_reset;
      case Errc::busy: return std::errc::device_or_resource_busy;
      default: return {c, *this};
    }
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

BadResultAccess::BadResultAccess(Error error) : error_(std::move(error)), what_(error_.message()) {}

const char* BadResultAccess::what() const noexcept {
  return what_.c_str();
}

std::string Error::message() const {
  if (!message_.empty()) return message_;
  return std::string(to_string(code_));
}

}  // namespace ferry
