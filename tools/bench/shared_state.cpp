// tools/bench/shared_state.cpp: the shared start time and progress counters
// (shared_state.hpp).
#include "bench/shared_state.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <utility>

namespace ferry::bench {

namespace {

std::atomic_ref<std::int64_t> word_at(std::byte* p) {
  return std::atomic_ref<std::int64_t>(*reinterpret_cast<std::int64_t*>(p));  // NOLINT
}
std::atomic_ref<std::uint64_t> counter_at(std::byte* p) {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(p));  // NOLINT
}

}  // namespace

Result<SharedState> SharedState::create(std::uint32_t slots) {
  const int fd = ::memfd_create("ferry-bench-state", MFD_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "memfd_create for the benchmark's shared state");
  const std::size_t bytes = kLine * (std::size_t{slots} + 1);
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::from_errno(err, "sizing the benchmark's shared state");
  }
  return attach(fd);
}

Result<SharedState> SharedState::attach(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Error::from_errno(err, "descriptor " + std::to_string(fd) + " (shared state)");
  }
  const auto bytes = static_cast<std::size_t>(st.st_size);
  if (bytes < 2 * kLine) {
    ::close(fd);
    return Error(Errc::invalid_argument,
                 "descriptor " + std::to_string(fd) + " is not the benchmark's shared state");
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    return Error::from_errno(err, "mapping the benchmark's shared state");
  }
  SharedState s;
  s.base_ = static_cast<std::byte*>(p);
  s.bytes_ = bytes;
  s.slots_ = static_cast<std::uint32_t>(bytes / kLine - 1);
  s.fd_ = fd;
  return s;
}

SharedState::SharedState(SharedState&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      bytes_(std::exchange(other.bytes_, 0)),
      slots_(std::exchange(other.slots_, 0)),
      fd_(std::exchange(other.fd_, -1)) {}

SharedState& SharedState::operator=(SharedState&& other) noexcept {
  if (this != &other) {
    reset();
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    slots_ = std::exchange(other.slots_, 0);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SharedState::~SharedState() {
  reset();
}

void SharedState::reset() noexcept {
  if (base_ != nullptr) ::munmap(base_, bytes_);
  if (fd_ >= 0) ::close(fd_);
  base_ = nullptr;
  fd_ = -1;
}

void SharedState::set_go(std::int64_t ns) noexcept {
  // Release: pairs with go()'s acquire (the clients read it after the go pipe closes).
  word_at(base_).store(ns, std::memory_order_release);
}

std::int64_t SharedState::go() const noexcept {
  return word_at(base_).load(std::memory_order_acquire);
}

void SharedState::set_count(std::uint32_t slot, std::uint64_t count) noexcept {
  // Relaxed: a display value with a single writer.
  if (slot < slots_) counter_at(base_ + kLine * (slot + 1)).store(count, std::memory_order_relaxed);
}

std::uint64_t SharedState::total() const noexcept {
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0; i < slots_; ++i) {
    sum += counter_at(base_ + kLine * (i + 1)).load(std::memory_order_relaxed);
  }
  return sum;
}

}  // namespace ferry::bench
