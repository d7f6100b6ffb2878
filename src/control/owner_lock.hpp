// SPDX-License-Identifier: Apache-2.0
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
  // Takes `path` (created 0600 if missing, never through a symlink) and writes our pid and
  // the descriptor that holds the lock in it ("<pid> <fd>"). Errc::exists when a live
  // process holds it, naming the holder (lock_holder_text()).
  static Result<OwnerLock> acquire(const std::string& path);
  // Takes `path` only if its owner is dead: the lock, or nullopt while the owner lives
  // (or the file is gone). Something else at `path` (a symlink, a directory, a file we may
  // not open) is an error that says what is there and what to do.
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

// The pid written in a lock file, or 0. Not necessarily the holder: lock_holder().
long owner_pid(const std::string& lock_path) noexcept;
// The process that holds the lock on `lock_path`, or 0 when none this process can see does.
// OFD locks carry no pid (F_OFD_GETLK reports -1), so this looks in /proc/<pid>/fdinfo:
// first at the descriptor the file names, then at every process (the pid written in the
// file may be a dead one's: its child inherited the lock, a cleaner holds it for a moment,
// or the holder has not written its pid yet).
long lock_holder(const std::string& lock_path);
// "pid N" for the holder of a lock a live process holds, or "pid unknown: ..." saying why
// no pid is named.
std::string lock_holder_text(const std::string& lock_path);
// The holder of a lock that a live process holds (tested, not taken), or 0.
long live_owner_pid(const std::string& lock_path);

}  // namespace ferry::detail
