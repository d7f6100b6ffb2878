// SPDX-License-Identifier: Apache-2.0
// ferry/shm.hpp: shared-memory segments.
//
// Anonymous segments come from memfd_create, sized once and sealed against growing and
// shrinking, so a peer that receives the descriptor can neither truncate the mapping under
// us (SIGBUS) nor grow it. Named segments use shm_open with O_CREAT|O_EXCL, mode 0600
// whatever the umask; opening one checks that it belongs to us and grants nobody else access.
// Huge pages are optional and fall back to normal pages when none are reserved.
// Errors name the object and the cause.
// Thread-safety: a SharedMemory object is not synchronized; the mapping it owns may be
// used from any thread or process that maps it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ferry/export.hpp"
#include "ferry/result.hpp"

namespace ferry {

struct ShmOptions {
  // Ask for huge pages (an MFD_HUGETLB memfd); falls back to normal pages if the
  // system has none reserved, and for named segments. SharedMemory::huge_pages() says what
  // was obtained.
  bool huge_pages = false;
  // Anonymous segments: seal with F_SEAL_FUTURE_WRITE too, once mapped here, so that whoever
  // receives the descriptor can map it only read-only (the creator's mapping stays writable).
  bool read_only_for_others = false;
};

enum class ShmAccess : std::uint8_t { read_write, read_only };

class FERRY_API SharedMemory {
 public:
  SharedMemory() = default;
  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  ~SharedMemory();

  // A new anonymous segment of `size` bytes (> 0), zero-filled, sealed against resizing.
  // `debug_name` (at most 200 characters) shows in /proc/<pid>/fd and /proc/<pid>/maps
  // ("memfd:ferry:<name>"). With huge pages, size() is `size` rounded up to a huge page.
  static Result<SharedMemory> create_anonymous(std::string_view debug_name, std::size_t size,
                                               const ShmOptions& options = {});

  // Maps a segment from a descriptor (e.g. received over SCM_RIGHTS); takes ownership of
  // `fd` (closed on error too). The segment must be at least `min_size` bytes and a memfd
  // sealed against shrinking and growing (as create_anonymous makes them): whoever else
  // holds an unsealed file could truncate it under our mapping (SIGBUS). Maps the whole
  // file, read-only with ShmAccess::read_only; name() is empty.
  static Result<SharedMemory> from_fd(int fd, std::size_t min_size,
                                      ShmAccess access = ShmAccess::read_write);

  // A new named segment (shm_open O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 whatever the umask).
  // `name` is one path component of [A-Za-z0-9._-], 1 to 200 characters (see
  // shm_object_name()). Every page is allocated now, so a full /dev/shm is an error here,
  // not a SIGBUS later. /dev/shm is tmpfs, which has no huge pages: options.huge_pages is
  // ignored and huge_pages() is false.
  static Result<SharedMemory> create_named(std::string_view name, std::size_t size,
                                           const ShmOptions& options = {});

  // Opens an existing named segment; refuses one owned by another user or whose mode
  // grants group/other access, with a message that names it, what was found and the fix.
  // An empty one (its creator has not sized it yet) is Errc::not_found, like a missing one.
  static Result<SharedMemory> open_named(std::string_view name);

  // Removes a named segment.
  static Result<void> unlink_named(std::string_view name);

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  int fd() const noexcept { return fd_; }
  // Closes the descriptor and keeps the mapping (once it has been passed on, it is not
  // needed to use the memory). fd() is -1 afterwards.
  void close_fd() noexcept;
  bool huge_pages() const noexcept { return huge_pages_; }
  // The debug name (anonymous) or the name (named) it was made or opened with.
  const std::string& name() const noexcept { return name_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  void reset() noexcept;
  // Maps fd_ shared, setting data_ and size_; errors name `object`.
  Result<void> map(std::size_t size, const std::string& object,
                   ShmAccess access = ShmAccess::read_write);

  void* data_ = nullptr;
  std::size_t size_ = 0;
  int fd_ = -1;
  bool huge_pages_ = false;
  std::string name_;
};

// The name of a named ferry object: "ferry.<uid>.<session>.<name>". Session and name
// must each be non-empty and of [A-Za-z0-9_-] (no dots, so the parts cannot be confused).
FERRY_API Result<std::string> shm_object_name(std::string_view session, std::string_view name);

}  // namespace ferry
