// SPDX-License-Identifier: Apache-2.0
// tools/common/shared_region.hpp: memory a process shares with the children it starts (the
// bench's and the demo's start times and counters, the tests' rings). A memfd, mapped
// MAP_SHARED: a forked child shares the mapping as it is; a child that execs maps the same
// memory again from the descriptor it inherits (attach()).
// Thread-safety: one owner; what lives inside is the users' business (atomics).
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <utility>

#include "ferry/result.hpp"
#include "ferry/unique_fd.hpp"

namespace ferry::tools {

class SharedRegion {
 public:
  // `bytes` of zeroes; the descriptor is close-on-exec (clear it for a child that execs).
  static Result<SharedRegion> create(const std::string& name, std::size_t bytes) {
    UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "memfd_create for " + name);
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
      return Error::from_errno(errno, "sizing " + name + " to " + std::to_string(bytes) + " bytes");
    }
    return map(std::move(fd), name);
  }

  // Maps the region behind an inherited descriptor, all of it; `what` names it in errors.
  static Result<SharedRegion> attach(UniqueFd fd, const std::string& what) {
    return map(std::move(fd), what);
  }

  SharedRegion() = default;
  SharedRegion(SharedRegion&& other) noexcept
      : fd_(std::move(other.fd_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  SharedRegion& operator=(SharedRegion&& other) noexcept {
    if (this != &other) {
      unmap();
      fd_ = std::move(other.fd_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion() { unmap(); }

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  int fd() const noexcept { return fd_.get(); }

 private:
  static Result<SharedRegion> map(UniqueFd fd, const std::string& what) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error::from_errno(errno, what);
    const auto bytes = static_cast<std::size_t>(st.st_size);
    if (bytes == 0) return Error(Errc::invalid_argument, what + " is empty");
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return Error::from_errno(errno, "mapping " + what);
    SharedRegion r;
    r.fd_ = std::move(fd);
    r.data_ = static_cast<std::byte*>(p);
    r.size_ = bytes;
    return r;
  }
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

  UniqueFd fd_;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ferry::tools
