// SPDX-License-Identifier: Apache-2.0
// tools/bridge/dedupe.cpp: committed JetStream messages, in a file (dedupe.hpp).
#include "bridge/dedupe.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <utility>

namespace ferry::bridge {

namespace {

constexpr std::uint64_t kMagic = 0x3165647564797266ull;  // "fryddup1"

struct Header {
  std::uint64_t magic;
  std::uint64_t window;
  std::uint64_t slots;
};

Error os_error(const std::string& what, const std::string& path) {
  const int e = errno;
  return Error(e == EACCES || e == EPERM ? Errc::permission : Errc::system,
               "dedupe state " + path + ": " + what + ": " + std::strerror(e), e);
}

}  // namespace

// A slot; right after it, window / 64 words of bits: bit (seq % window) for the sequence
// numbers last < seq <= last + window.
struct Dedupe::Slot {
  std::uint64_t key;   // hash of the key; 0: free
  std::uint64_t last;  // every sequence number up to it committed
  std::uint64_t used;  // when it was last committed to (Dedupe::clock_)
};

namespace {
std::uint64_t* bits_of(const void* slot) {
  return reinterpret_cast<std::uint64_t*>(                                            // NOLINT
      static_cast<std::byte*>(const_cast<void*>(slot)) + 3 * sizeof(std::uint64_t));  // NOLINT
}
}  // namespace

Result<Dedupe> Dedupe::open(const std::string& path, std::uint32_t window) {
  Dedupe d;
  d.window_ = std::max<std::uint32_t>(64, (window + 63) / 64 * 64);
  d.size_ = sizeof(Header) + kSlots * d.slot_bytes();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return os_error("cannot open", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || ::ftruncate(fd, static_cast<off_t>(d.size_)) != 0) {
    Error e = os_error("cannot size", path);
    ::close(fd);
    return e;
  }
  void* m = ::mmap(nullptr, d.size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return os_error("cannot map", path);
  d.map_ = static_cast<std::byte*>(m);
  auto* h = reinterpret_cast<Header*>(d.map_);  // NOLINT
  if (h->magic != kMagic || h->window != d.window_ || h->slots != kSlots ||
      static_cast<std::size_t>(st.st_size) != d.size_) {
    std::memset(d.map_, 0, d.size_);
    *h = Header{kMagic, d.window_, kSlots};
  }
  for (std::size_t i = 0; i < kSlots; ++i) d.clock_ = std::max(d.clock_, d.slot(i)->used);
  return d;
}

Dedupe::Dedupe(Dedupe&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      window_(other.window_),
      clock_(other.clock_) {}

Dedupe& Dedupe::operator=(Dedupe&& other) noexcept {
  if (this != &other) {
    if (map_ != nullptr) ::munmap(map_, size_);
    map_ = std::exchange(other.map_, nullptr);
    size_ = std::exchange(other.size_, 0);
    window_ = other.window_;
    clock_ = other.clock_;
  }
  return *this;
}

Dedupe::~Dedupe() {
  if (map_ != nullptr) ::munmap(map_, size_);
}

std::size_t Dedupe::slot_bytes() const noexcept {
  return sizeof(Slot) + window_ / 8;
}

Dedupe::Slot* Dedupe::slot(std::size_t i) const {
  return reinterpret_cast<Slot*>(map_ + sizeof(Header) + i * slot_bytes());  // NOLINT
}

Dedupe::Slot* Dedupe::find(std::uint64_t hash) const {
  for (std::size_t i = 0; i < kSlots; ++i) {
    if (slot(i)->key == hash) return slot(i);
  }
  return nullptr;
}

namespace {
std::uint64_t hash_of(std::string_view key) {
  const std::uint64_t h = std::hash<std::string_view>{}(key);
  return h == 0 ? 1 : h;  // 0 marks a free slot
}
}  // namespace

bool Dedupe::seen(std::string_view key, std::uint64_t seq) const {
  if (map_ == nullptr) return false;
  const Slot* s = find(hash_of(key));
  if (s == nullptr) return false;
  if (seq <= s->last) return true;
  if (seq - s->last > window_) return false;
  const std::uint64_t bit = seq % window_;
  return (bits_of(s)[bit / 64] >> (bit % 64) & 1u) != 0;
}

void Dedupe::commit(std::string_view key, std::uint64_t seq) {
  if (map_ == nullptr) return;
  const std::uint64_t hash = hash_of(key);
  Slot* s = find(hash);
  if (s == nullptr) {  // a free slot, else the least recently used one
    s = slot(0);
    for (std::size_t i = 0; i < kSlots && s->key != 0; ++i) {
      if (slot(i)->key == 0 || slot(i)->used < s->used) s = slot(i);
    }
    std::memset(static_cast<void*>(s), 0, slot_bytes());
    s->key = hash;
  }
  s->used = ++clock_;
  if (seq <= s->last) return;
  const auto clear = [&](std::uint64_t n) {  // bit of n, as in seen()
    const std::uint64_t bit = n % window_;
    bits_of(s)[bit / 64] &= ~(std::uint64_t{1} << (bit % 64));
  };
  if (seq - s->last > window_) {  // the window moves on to end at seq
    const std::uint64_t new_last = seq - window_;
    if (new_last - s->last >= window_) {
      std::memset(bits_of(s), 0, window_ / 8);
    } else {
      for (std::uint64_t n = s->last + 1; n <= new_last; ++n) clear(n);
    }
    s->last = new_last;
  }
  const std::uint64_t bit = seq % window_;
  bits_of(s)[bit / 64] |= std::uint64_t{1} << (bit % 64);
  // Whatever now follows `last` without a hole joins it.
  while (seen(key, s->last + 1)) {
    clear(s->last + 1);
    ++s->last;
  }
}

}  // namespace ferry::bridge
