// SPDX-License-Identifier: Apache-2.0
// Shared-memory segments for ferry/shm.hpp: sealed memfds for connections, shm_open for
// named objects. See docs/shared_memory.md for the choices.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <limits>
#include <utility>

#include "ferry/shm.hpp"

namespace ferry {
namespace {

constexpr std::size_t kMaxDebugNameLength = 200;
constexpr std::size_t kMaxShmNameLength = 200;
constexpr std::size_t kMaxSessionLength = 64;
constexpr std::size_t kMaxObjectNameLength = 100;
constexpr std::size_t kDefaultHugePageSize = std::size_t{2} << 20;
// Half the largest file size, so rounding up to a huge page cannot overflow off_t.
constexpr std::size_t kMaxSize = static_cast<std::size_t>(std::numeric_limits<off_t>::max()) / 2;
// Sealed against shrinking (a peer could make our mapping SIGBUS), growing, and unsealing.
constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

// "<object>: <action>: <strerror>[: <hint>]": a hint when errno names a limit one can change.
Error os_error(int err, const std::string& object, const std::string& action) {
  Error error = Error::from_errno(err, object + ": " + action);
  const char* hint = nullptr;
  switch (err) {
    case EMFILE: hint = "this process has too many open files (ulimit -n)"; break;
    case ENFILE: hint = "the system has too many open files (fs.file-max)"; break;
    case ENOMEM: hint = "out of memory, or a memory limit was hit (cgroup, ulimit -v)"; break;
    case ENOSPC:
      hint = "/dev/shm is full or too small (tmpfs size limit, see df -h /dev/shm)";
      break;
    case ELOOP: hint = "it is a symbolic link, which ferry never follows"; break;
    default: return error;
  }
  return Error(error.code(), error.message() + ": " + hint, err);
}

Error invalid(std::string message) {
  return Error(Errc::invalid_argument, std::move(message));
}

// A name for messages: quoted, and cut short if someone passed a very long one.
std::string quoted(std::string_view s) {
  constexpr std::size_t kShown = 64;
  return '"' + std::string(s.substr(0, kShown)) + (s.size() > kShown ? "...\"" : "\"");
}

bool is_name_char(char c, bool allow_dot) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || (allow_dot && c == '.');
}

Result<void> check_shm_name(std::string_view name) {
  const auto bad = [&](const std::string& why) {
    return invalid("invalid shared-memory name " + quoted(name) + ": " + why);
  };
  if (name.empty() || name.size() > kMaxShmNameLength) {
    return bad("it must be 1 to " + std::to_string(kMaxShmNameLength) + " characters");
  }
  if (name == "." || name == "..") return bad(R"("." and ".." are not names)");
  if (!std::all_of(name.begin(), name.end(), [](char c) { return is_name_char(c, true); })) {
    return bad("use only A-Z a-z 0-9 . _ - (one path component, no '/')");
  }
  return {};
}

// The name shm_open() takes: "/<name>" (the object is /dev/shm/<name>).
std::string shm_path(std::string_view name) {
  std::string path(1, '/');  // Built by appending: "/" + std::string trips GCC 12's -Wrestrict.
  return path.append(name);
}

Result<void> check_size(std::size_t size, const std::string& object) {
  if (size == 0) return invalid(object + ": size must be greater than 0");
  if (size > kMaxSize) return invalid(object + ": size " + std::to_string(size) + " is too large");
  return {};
}

// The default huge page size (the one MFD_HUGETLB uses), from /proc/meminfo.
std::size_t huge_page_size() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::size_t kib = 0;
  while (meminfo >> key) {
    if (key == "Hugepagesize:" && meminfo >> kib && kib != 0) return kib * 1024;
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return kDefaultHugePageSize;
}

std::string bytes(std::size_t n) {
  return std::to_string(n) + " bytes";
}

// fstat()s a segment's descriptor and checks that it is a regular file.
Result<struct stat> stat_segment(int fd, const std::string& object) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error(errno, object, "fstat");
  if (!S_ISREG(st.st_mode)) return invalid(object + " is not a shared-memory file");
  return st;
}

}  // namespace

Result<void> SharedMemory::map(std::size_t size, const std::string& object, ShmAccess access) {
  const int prot = access == ShmAccess::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  void* data = ::mmap(nullptr, size, prot, MAP_SHARED, fd_, 0);
  if (data == MAP_FAILED) return os_error(errno, object, "mmap " + bytes(size));
  data_ = data;
  size_ = size;
  return {};
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      fd_(std::exchange(other.fd_, -1)),
      huge_pages_(std::exchange(other.huge_pages_, false)),
      name_(std::exchange(other.name_, {})) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    fd_ = std::exchange(other.fd_, -1);
    huge_pages_ = std::exchange(other.huge_pages_, false);
    name_ = std::exchange(other.name_, {});
  }
  return *this;
}

SharedMemory::~SharedMemory() {
  reset();
}

void SharedMemory::close_fd() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void SharedMemory::reset() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  size_ = 0;
  fd_ = -1;
  huge_pages_ = false;
  name_.clear();
}

// Every constructor below fills a local SharedMemory as it goes, so that its destructor
// unmaps and closes whatever was obtained when a later step fails.

Result<SharedMemory> SharedMemory::create_anonymous(std::string_view debug_name, std::size_t size,
                                                    const ShmOptions& options) {
  const std::string label = "ferry:" + std::string(debug_name);
  const std::string object = "memfd " + label;
  if (debug_name.size() > kMaxDebugNameLength || debug_name.find('\0') != std::string_view::npos) {
    return invalid("invalid memfd name " + quoted(debug_name) + ": it must be at most " +
                   std::to_string(kMaxDebugNameLength) + " characters, without NUL");
  }
  if (auto ok = check_size(size, object); !ok) return ok.error();

  const auto attempt = [&](std::size_t length, unsigned flags) -> Result<SharedMemory> {
    SharedMemory shm;
    shm.fd_ = ::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING | flags);
    if (shm.fd_ < 0) return os_error(errno, object, "memfd_create");
    // memfds are born 0777 whatever the umask; reachable through /proc/<pid>/fd, so 0600.
    if (::fchmod(shm.fd_, 0600) != 0) return os_error(errno, object, "fchmod 0600");
    if (::ftruncate(shm.fd_, static_cast<off_t>(length)) != 0) {
      return os_error(errno, object, "ftruncate to " + bytes(length));
    }
    const int seals = options.read_only_for_others ? kSeals & ~F_SEAL_SEAL : kSeals;
    if (::fcntl(shm.fd_, F_ADD_SEALS, seals) != 0) {
      return os_error(errno, object, "sealing against resizing (F_ADD_SEALS)");
    }
    if (auto mapped = shm.map(length, object); !mapped) return mapped.error();
    // Existing writable mappings (ours) keep writing; new ones are refused, and a read-only
    // mapping cannot be mprotect()ed writable.
    if (options.read_only_for_others &&
        ::fcntl(shm.fd_, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
      return os_error(errno, object, "sealing against writes by others (F_SEAL_FUTURE_WRITE)");
    }
    shm.huge_pages_ = (flags & MFD_HUGETLB) != 0;
    shm.name_ = debug_name;
    return shm;
  };
  // Huge pages fail at memfd_create (no hugetlbfs, or a kernel before 4.16 that cannot seal
  // one) or at mmap (no pages reserved): then normal pages, never an unsealed segment.
  if (options.huge_pages) {
    const std::size_t page = huge_page_size();
    if (auto shm = attempt((size + page - 1) / page * page, MFD_HUGETLB)) return shm;
  }
  return attempt(size, 0);
}

Result<SharedMemory> SharedMemory::from_fd(int fd, std::size_t min_size, ShmAccess access) {
  const std::string object = "segment from fd " + std::to_string(fd);
  if (fd < 0) return invalid(object + ": not a descriptor");
  SharedMemory shm;
  shm.fd_ = fd;
  auto st = stat_segment(fd, object);
  if (!st) return st.error();
  const auto size = static_cast<std::size_t>(st->st_size);
  if (size == 0 || size < min_size) {
    return invalid(object + " is " + bytes(size) + ", expected at least " +
                   bytes(std::max<std::size_t>(min_size, 1)));
  }
  // Fails (EINVAL) for files that cannot carry seals at all, as on a disk filesystem.
  const int seals = ::fcntl(fd, F_GET_SEALS);
  constexpr int kNeeded = F_SEAL_SHRINK | F_SEAL_GROW;
  if (seals < 0 || (seals & kNeeded) != kNeeded) {
    return Error(Errc::permission,
                 object +
                     (seals < 0 ? std::string(" is not a memfd (it cannot be sealed)")
                                : std::string(" is not sealed against shrinking and growing "
                                              "(F_SEAL_SHRINK, F_SEAL_GROW)")) +
                     ": whoever else holds it could truncate it under our mapping (SIGBUS); "
                     "send a memfd made by SharedMemory::create_anonymous");
  }
  if (auto mapped = shm.map(size, object, access); !mapped) return mapped.error();
  struct statfs fs {};
  shm.huge_pages_ = ::fstatfs(fd, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC;
  return shm;
}

Result<SharedMemory> SharedMemory::create_named(std::string_view name, std::size_t size,
                                                const ShmOptions& /*options: see shm.hpp*/) {
  if (auto ok = check_shm_name(name); !ok) return ok.error();
  const std::string path = shm_path(name);
  const std::string object = "/dev/shm" + path;
  if (auto ok = check_size(size, object); !ok) return ok.error();

  SharedMemory shm;
  shm.fd_ = ::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (shm.fd_ < 0 && errno == EEXIST) {
    return Error(Errc::exists,
                 object +
                     " already exists: another process uses this name, or one that died "
                     "left it behind (if its owner is gone, remove it: rm " +
                     object + ")",
                 EEXIST);
  }
  if (shm.fd_ < 0) return os_error(errno, object, "shm_open (create)");
  // Removed again unless creation completes, so a failure leaves nothing in /dev/shm.
  struct UnlinkUnlessKept {
    const std::string& path;
    bool keep;
    ~UnlinkUnlessKept() {
      if (!keep) ::shm_unlink(path.c_str());
    }
  } guard{path, false};

  // The umask may have cleared bits of 0600; it never adds any, but be exact.
  if (::fchmod(shm.fd_, 0600) != 0) return os_error(errno, object, "fchmod 0600");
  // Allocates every page now: a full /dev/shm fails here with ENOSPC, not with SIGBUS on a
  // later write. It also sets the file's size.
  int err = 0;
  do {
    err = ::posix_fallocate(shm.fd_, 0, static_cast<off_t>(size));
  } while (err == EINTR);
  if (err != 0) return os_error(err, object, "allocating " + bytes(size) + " (posix_fallocate)");
  if (auto mapped = shm.map(size, object); !mapped) return mapped.error();
  shm.name_ = name;
  guard.keep = true;
  return shm;
}

Result<SharedMemory> SharedMemory::open_named(std::string_view name) {
  if (auto ok = check_shm_name(name); !ok) return ok.error();
  const std::string path = shm_path(name);
  const std::string object = "/dev/shm" + path;

  SharedMemory shm;
  shm.fd_ = ::shm_open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
  if (shm.fd_ < 0 && errno == ENOENT) {
    return Error(Errc::not_found, object + " does not exist (not created yet, or removed)", ENOENT);
  }
  if (shm.fd_ < 0) return os_error(errno, object, "shm_open");
  auto st = stat_segment(shm.fd_, object);
  if (!st) return st.error();
  if (st->st_uid != ::geteuid()) {
    return Error(Errc::permission,
                 object + " belongs to uid " + std::to_string(st->st_uid) + ", not to us (uid " +
                     std::to_string(::geteuid()) +
                     "): refusing memory another user controls; remove it if it is stale");
  }
  if ((st->st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st->st_mode & 07777);
    const std::string fix = "chmod 600 " + object;
    return Error(Errc::permission, object + " has mode " + mode +
                                       ", which lets other users in; expected 0600: fix it with " +
                                       fix + ", or remove it");
  }
  // not_found rather than corrupt: its creator may not have sized it yet, so a retry can work.
  const auto size = static_cast<std::size_t>(st->st_size);
  if (size == 0) {
    return Error(Errc::not_found,
                 object +
                     " is empty (0 bytes): its creator has not sized it yet, or died "
                     "first; if it stays empty, remove it");
  }
  if (auto mapped = shm.map(size, object); !mapped) return mapped.error();
  shm.name_ = name;
  return shm;
}

Result<void> SharedMemory::unlink_named(std::string_view name) {
  if (auto ok = check_shm_name(name); !ok) return ok.error();
  const std::string path = shm_path(name);
  const std::string object = "/dev/shm" + path;
  if (::shm_unlink(path.c_str()) == 0) return {};
  if (errno == ENOENT) return Error(Errc::not_found, object + " does not exist", ENOENT);
  return os_error(errno, object, "shm_unlink");
}

Result<std::string> shm_object_name(std::string_view session, std::string_view name) {
  const auto check = [](const char* part, std::string_view value, std::size_t max) -> Result<void> {
    if (!value.empty() && value.size() <= max &&
        std::all_of(value.begin(), value.end(), [](char c) { return is_name_char(c, false); })) {
      return {};
    }
    return invalid(std::string("invalid ") + part + " " + quoted(value) +
                   " in a shared-memory name: use 1 to " + std::to_string(max) +
                   " characters of A-Z a-z 0-9 _ -");
  };
  if (auto ok = check("session", session, kMaxSessionLength); !ok) return ok.error();
  if (auto ok = check("name", name, kMaxObjectNameLength); !ok) return ok.error();
  return "ferry." + std::to_string(::geteuid()) + "." + std::string(session) + "." +
         std::string(name);
}

}  // namespace ferry
