// owner_lock.hpp: liveness of the owner of ferry's named objects (docs/reliability.md).
//
// A server, or the creator of a named segment, holds "<name>.lock" in its session
// directory (an open-file-description lock, F_OFD_SETLK) for as long as it lives; the
// kernel drops the lock when the process dies, however it dies. Whoever takes the lock of
// a dead owner may remove that owner's objects; a live owner's lock cannot be taken, so
// its objects are never removed.
// Thread-safety: plain values.
#pragma once

#include <optional>
#include <string>

#include "control/unix_socket.hpp"
#include "ferry/result.hpp"

namespace ferry::detail {

class OwnerLock {
 public:
  OwnerLock() = default;
  // Takes `path` (created 0600 if missing, never through a symlink) and writes our pid in
  // it. Errc::exists when a live process holds it, naming its pid.
  static Result<OwnerLock> acquire(const std::string& path);
  // Takes `path` only if its owner is dead: the lock, or nullopt while the owner lives
  // (or the file is gone).
  static Result<std::optional<OwnerLock>> claim_if_dead(const std::string& path);

  const std::string& path() const noexcept { return path_; }
  explicit operator bool() const noexcept { return static_cast<bool>(fd_); }
  // Removes the lock file, then lets go of the lock (a clean shutdown).
  void remove() noexcept;
  // Lets go of the lock and keeps the file.
  void release() noexcept { fd_.reset(); }

 private:
  UniqueFd fd_;
  std::string path_;
};

// The pid written in a lock file, or 0.
long owner_pid(const std::string& lock_path) noexcept;
// The pid written in a lock file that a live process holds (tested, not taken), or 0.
long live_owner_pid(const std::string& lock_path) noexcept;

}  // namespace ferry::detail
