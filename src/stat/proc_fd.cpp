// SPDX-License-Identifier: Apache-2.0
// Mapping a server's segments through /proc/<pid>/fd (proc_fd.hpp).
#include "stat/proc_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "control/unix_socket.hpp"

namespace ferry::detail {

std::string read_link(const std::string& path) {
  char target[512];
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
  if (n <= 0 || static_cast<std::size_t>(n) == sizeof target) return {};
  return {target, static_cast<std::size_t>(n)};
}

Result<SharedMemory> map_server_segment(const std::string& fd_path, std::string_view listed_link,
                                        std::size_t min_size) {
  // O_PATH follows the link to the file without opening it: a FIFO does not wait for a
  // writer, a FUSE file's server is not asked. (O_NOFOLLOW does not apply: the link in
  // /proc/<pid>/fd is the way to the file; with it we would get the link itself.)
  const UniqueFd pinned(::open(fd_path.c_str(), O_PATH | O_CLOEXEC));
  if (!pinned) {
    const int err = errno;
    if (err == ENOENT) return Error(Errc::not_found, fd_path + " is gone (closed)", err);
    return Error::from_errno(err, "pinning " + fd_path + " (open O_PATH)");
  }
  const std::string self = "/proc/self/fd/" + std::to_string(pinned.get());
  const std::string link = read_link(self);
  if (link != listed_link) {
    return Error(Errc::not_found, fd_path + " now names " + (link.empty() ? "nothing" : link) +
                                      ", not " + std::string(listed_link) +
                                      " (closed, and the number reused)");
  }
  // Opened through the pinned file, the one whose link was checked, whatever the server
  // does with its descriptor numbers meanwhile. O_NONBLOCK: a FIFO's open does not wait.
  const int fd = ::open(self.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "opening " + fd_path + " (" + link + ")");
  // A regular file, sealed (F_GET_SEALS fails for anything but a memfd), large enough.
  auto shm = SharedMemory::from_fd(fd, min_size, ShmAccess::read_only);
  if (!shm) return Error(shm.code(), fd_path + " (" + link + "): " + shm.error().message());
  shm->close_fd();  // the mapping is enough: a reader of thousands of connections keeps no fds
  return shm;
}

}  // namespace ferry::detail
