// SPDX-License-Identifier: Apache-2.0
// Owner locks (owner_lock.hpp).
#include "control/owner_lock.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>

#include "control/file_mode.hpp"

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

// What a file that is not a regular file is.
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// Opens the lock file at `path` (`flags`, plus O_NOFOLLOW, O_CLOEXEC and O_NONBLOCK, so
// that a FIFO there cannot block us): only a regular file, never through a symlink; errors
// say what is there instead and what to do.
Result<UniqueFd> open_lock_file(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600));
  const int err = fd ? 0 : errno;
  struct stat st {};
  if (fd ? ::fstat(fd.get(), &st) != 0 : ::lstat(path.c_str(), &st) != 0) {
    const int why = err != 0 ? err : errno;
    return Error::from_errno(why, "opening the lock file " + path);
  }
  if (S_ISLNK(st.st_mode)) {
    return Error(Errc::permission,
                 path + " is a symlink; ferry never follows one to a lock file: remove it", err);
  }
  if (!S_ISREG(st.st_mode)) {
    return Error(Errc::exists,
                 path + " is " + file_kind(st.st_mode) + " (mode " + octal_mode(st.st_mode) +
                     "), not a lock file; ferry leaves it alone: remove it",
                 err);
  }
  if (!fd && (err == EACCES || err == EPERM)) {
    return Error(Errc::permission,
                 "opening the lock file " + path + ": " + std::strerror(err) + " (owned by uid " +
                     std::to_string(st.st_uid) + ", mode " + octal_mode(st.st_mode) +
                     "; you are uid " + std::to_string(::geteuid()) +
                     "): remove it, or clean up as its owner",
                 err);
  }
  if (!fd) return Error::from_errno(err, "opening the lock file " + path);
  return fd;
}

// The pid and descriptor written in a lock file ("<pid> <fd>"; older files hold the pid
// alone), or 0 and -1.
std::pair<long, long> written_owner(const std::string& lock_path) noexcept {
  const UniqueFd fd(::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return {0, -1};
  char text[48] = {};
  if (::read(fd.get(), text, sizeof text - 1) <= 0) return {0, -1};
  char* end = nullptr;
  const long pid = std::strtol(text, &end, 10);
  const long desc = *end == ' ' ? std::strtol(end + 1, nullptr, 10) : -1;
  return {pid, desc};
}

// Whether descriptor `fd` of process `pid` is the file `file` and holds a write lock on it:
// its fdinfo lists the locks its open file description holds ("lock: 1: OFDLCK ADVISORY
// WRITE -1 fe:00:1234 0 EOF"; OFD locks have no pid, hence this search). The line's device
// is the superblock's, which stat() does not always report (btrfs subvolumes): the file is
// matched by stat() on the descriptor, the line by the inode number.
bool descriptor_holds(long pid, const std::string& fd, const struct stat& file) {
  const std::string proc = "/proc/" + std::to_string(pid);
  struct stat st {};
  if (::stat((proc + "/fd/" + fd).c_str(), &st) != 0 || st.st_dev != file.st_dev ||
      st.st_ino != file.st_ino) {
    return false;
  }
  std::ifstream info(proc + "/fdinfo/" + fd);
  // (Appended, not "a" + b + "c": GCC 12 warns about that falsely, -Wrestrict.)
  std::string inode = ":";
  inode.append(std::to_string(file.st_ino)).append(" ");
  for (std::string line; std::getline(info, line);) {
    if (line.starts_with("lock:") && line.find(" WRITE ") != std::string::npos &&
        line.find(inode) != std::string::npos) {
      return true;
    }
  }
  return false;
}

bool is_number(const char* s) {
  if (*s == '\0') return false;
  for (; *s != '\0'; ++s) {
    if (*s < '0' || *s > '9') return false;
  }
  return true;
}

// Whether any descriptor of process `pid` holds the lock on `file`.
bool process_holds(long pid, const struct stat& file) {
  const std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(fds.c_str());
  if (d == nullptr) return false;
  bool holds = false;
  while (const dirent* e = ::readdir(d)) {
    if (is_number(e->d_name) && descriptor_holds(pid, e->d_name, file)) {
      holds = true;
      break;
    }
  }
  ::closedir(d);
  return holds;
}

}  // namespace

long owner_pid(const std::string& lock_path) noexcept {
  return written_owner(lock_path).first;
}

long lock_holder(const std::string& lock_path) {
  struct stat file {};
  if (::lstat(lock_path.c_str(), &file) != 0) return 0;
  // Usually the process and descriptor the file names; else the file is not written yet,
  // or names a process that died while another (a child it forked, a cleaner) holds the
  // lock, or whose pid was reused: look at every process.
  const auto [pid, fd] = written_owner(lock_path);
  if (pid > 0 && fd >= 0 && descriptor_holds(pid, std::to_string(fd), file)) return pid;
  if (pid > 0 && process_holds(pid, file)) return pid;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return 0;
  long holder = 0;
  while (const dirent* e = ::readdir(d)) {
    if (!is_number(e->d_name)) continue;
    const long other = std::strtol(e->d_name, nullptr, 10);
    if (other != pid && process_holds(other, file)) {
      holder = other;
      break;
    }
  }
  ::closedir(d);
  return holder;
}

std::string lock_holder_text(const std::string& lock_path) {
  const long holder = lock_holder(lock_path);
  if (holder > 0) return "pid " + std::to_string(holder);
  const long written = owner_pid(lock_path);
  return "pid unknown: no process this one can see holds it now (another user's, one in "
         "another pid namespace, or it let go meanwhile)" +
         (written > 0 ? "; the pid written in it, " + std::to_string(written) + ", does not hold it"
                      : std::string());
}

long live_owner_pid(const std::string& lock_path) {
  const UniqueFd fd(::open(lock_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return 0;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK) return 0;
  return lock_holder(lock_path);
}

Result<OwnerLock> OwnerLock::acquire(const std::string& path) {
  // A cleaner holds a dead owner's lock for a moment while it removes the objects: try
  // again shortly, and reopen if the file we locked was removed meanwhile.
  for (int attempt = 0;; ++attempt) {
    auto fd = open_lock_file(path, O_RDWR | O_CREAT);
    if (!fd) return fd.error();
    if (::fchmod(fd->get(), 0600) != 0) {
      return Error::from_errno(errno, "setting mode 0600 on the lock file " + path);
    }
    const int err = try_lock(fd->get());
    if (err == EAGAIN) {
      if (attempt < 20) {
        ::usleep(1000);
        continue;
      }
      return Error(Errc::exists, "a live process (" + lock_holder_text(path) + ") holds " + path,
                   EAGAIN);
    }
    if (err != 0) return Error::from_errno(err, "locking " + path);
    if (!still_there(fd->get(), path)) continue;
    // Our pid, and the descriptor whose fdinfo shows the lock (lock_holder() checks it).
    const std::string owner = std::to_string(::getpid()) + " " + std::to_string(fd->get()) + "\n";
    if (::ftruncate(fd->get(), 0) != 0 ||
        ::pwrite(fd->get(), owner.data(), owner.size(), 0) != static_cast<ssize_t>(owner.size())) {
      return Error::from_errno(errno, "writing our pid into " + path);
    }
    OwnerLock lock;
    lock.fd_ = std::move(*fd);
    lock.path_ = path;
    return lock;
  }
}

Result<std::optional<OwnerLock>> OwnerLock::claim_if_dead(const std::string& path) {
  auto fd = open_lock_file(path, O_RDWR);
  if (!fd) {
    if (fd.error().sys_errno() == ENOENT) return std::optional<OwnerLock>();  // gone meanwhile
    return fd.error();
  }
  const int err = try_lock(fd->get());
  if (err == EAGAIN) return std::optional<OwnerLock>();  // its owner lives
  if (err != 0) return Error::from_errno(err, "locking " + path);
  if (!still_there(fd->get(), path)) return std::optional<OwnerLock>();
  OwnerLock lock;
  lock.fd_ = std::move(*fd);
  lock.path_ = path;
  return std::optional<OwnerLock>(std::move(lock));
}

void OwnerLock::remove() noexcept {
  if (!fd_) return;
  ::unlink(path_.c_str());
  fd_.reset();
}

}  // namespace ferry::detail
