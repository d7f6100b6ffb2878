// Owner locks (owner_lock.hpp).
#include "control/owner_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace ferry::detail {

namespace {

// Whole-file exclusive lock on the open file description: 0 when taken, EAGAIN when a live
// process holds it, or another errno.
int try_lock(int fd) {
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return 0;
  return errno == EACCES ? EAGAIN : errno;
}

// Whether `fd` is still the file at `path` (a cleaner may have removed the file we opened
// just before we locked it; then the lock protects nothing).
bool still_there(int fd, const std::string& path) {
  struct stat a {};
  struct stat b {};
  return ::fstat(fd, &a) == 0 && ::lstat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

}  // namespace

long owner_pid(const std::string& lock_path) noexcept {
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[32] = {};
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  return n > 0 ? std::strtol(text, nullptr, 10) : 0;
}

long live_owner_pid(const std::string& lock_path) noexcept {
  const UniqueFd fd(::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return 0;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) return 0;
  return owner_pid(lock_path);
}

Result<OwnerLock> OwnerLock::acquire(const std::string& path) {
  // A cleaner holds a dead owner's lock for a moment while it removes the objects: try
  // again shortly, and reopen if the file we locked was removed meanwhile.
  for (int attempt = 0;; ++attempt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno(errno, "opening the lock file " + path);
    if (::fchmod(fd.get(), 0600) != 0) {
      return Error::from_errno(errno, "setting mode 0600 on the lock file " + path);
    }
    const int err = try_lock(fd.get());
    if (err == EAGAIN) {
      if (attempt < 20) {
        ::usleep(1000);
        continue;
      }
      const long pid = owner_pid(path);
      return Error(Errc::exists,
                   "a live process" +
                       (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                       " holds " + path,
                   EAGAIN);
    }
    if (err != 0) return Error::from_errno(err, "locking " + path);
    if (!still_there(fd.get(), path)) continue;
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
      return Error::from_errno(errno, "writing our pid into " + path);
    }
    OwnerLock lock;
    lock.fd_ = std::move(fd);
    lock.path_ = path;
    return lock;
  }
}

Result<std::optional<OwnerLock>> OwnerLock::claim_if_dead(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::optional<OwnerLock>();
    return Error::from_errno(errno, "opening the lock file " + path);
  }
  const int err = try_lock(fd.get());
  if (err == EAGAIN) return std::optional<OwnerLock>();  // its owner lives
  if (err != 0) return Error::from_errno(err, "locking " + path);
  if (!still_there(fd.get(), path)) return std::optional<OwnerLock>();
  OwnerLock lock;
  lock.fd_ = std::move(fd);
  lock.path_ = path;
  return std::optional<OwnerLock>(std::move(lock));
}

void OwnerLock::remove() noexcept {
  if (!fd_) return;
  ::unlink(path_.c_str());
  fd_.reset();
}

}  // namespace ferry::detail
