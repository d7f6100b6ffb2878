// tools/demo/board.cpp: the shared region and the latency histogram (board.hpp).
#include "board.hpp"

#include <sys/mman.h>

#include <bit>
#include <cmath>
#include <new>

namespace ferry::demo {

namespace {

constexpr std::size_t kLinear = 64;  // below: one bucket per nanosecond
constexpr unsigned kSubBits = 5;     // 32 buckets per power of two above

std::size_t bucket_of(std::uint64_t ns) noexcept {
  if (ns < kLinear) return static_cast<std::size_t>(ns);
  const auto e = static_cast<unsigned>(std::bit_width(ns) - 1);  // 6..63
  const std::uint64_t sub = (ns >> (e - kSubBits)) & ((1U << kSubBits) - 1);
  return kLinear + (std::size_t{e} - 6) * (std::size_t{1} << kSubBits) + sub;
}

double middle_of(std::size_t bucket) noexcept {
  if (bucket < kLinear) return static_cast<double>(bucket);
  const std::size_t e = 6 + (bucket - kLinear) / (std::size_t{1} << kSubBits);
  const std::size_t sub = (bucket - kLinear) % (std::size_t{1} << kSubBits);
  const double width = std::ldexp(1.0, static_cast<int>(e - kSubBits));
  return (static_cast<double>((std::size_t{1} << kSubBits) + sub) + 0.5) * width;
}

constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept {
  return (n + to - 1) / to * to;
}

}  // namespace

void Histogram::add(std::uint64_t ns) noexcept {
  ++buckets_[bucket_of(ns)];  // NOLINT(cppcoreguidelines-pro-bounds-constant-array-index)
  ++count_;
}

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];  // NOLINT
  count_ += other.count_;
}

double Histogram::quantile_us(double q) const noexcept {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank < 1) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];  // NOLINT
    if (seen >= rank) return middle_of(i) / 1000.0;
  }
  return middle_of(kBuckets - 1) / 1000.0;
}

Shared Shared::create(std::size_t participants) noexcept {
  Shared s;
  const std::size_t board_bytes = round_up(sizeof(Board), alignof(Slot));
  const std::size_t bytes = board_bytes + participants * sizeof(Slot);
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return s;
  s.base_ = base;
  s.bytes_ = bytes;
  s.board_ = new (base) Board();
  auto* first = static_cast<std::byte*>(base) + board_bytes;
  for (std::size_t i = 0; i < participants; ++i) {
    Slot* slot = new (first + i * sizeof(Slot)) Slot();
    if (i == 0) s.slots_ = slot;
  }
  s.participants_ = participants;
  return s;
}

Shared::Shared(Shared&& other) noexcept
    : base_(other.base_),
      bytes_(other.bytes_),
      board_(other.board_),
      slots_(other.slots_),
      participants_(other.participants_) {
  other.base_ = nullptr;
  other.board_ = nullptr;
  other.slots_ = nullptr;
}

Shared::~Shared() {
  // Board and Slot are trivially destructible in practice (atomics of integers, arrays):
  // unmapping is all there is to do.
  if (base_ != nullptr) ::munmap(base_, bytes_);
}

}  // namespace ferry::demo
