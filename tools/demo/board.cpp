// tools/demo/board.cpp: the shared region (board.hpp).
#include "board.hpp"

#include <sys/mman.h>

#include <new>

namespace ferry::demo {

namespace {

constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept {
  return (n + to - 1) / to * to;
}

}  // namespace

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
