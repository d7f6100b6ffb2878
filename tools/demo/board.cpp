// tools/demo/board.cpp: the shared region (board.hpp).
#include "board.hpp"

#include <new>
#include <utility>

namespace ferry::demo {

namespace {

constexpr std::size_t round_up(std::size_t n, std::size_t to) noexcept {
  return (n + to - 1) / to * to;
}

}  // namespace

Result<Shared> Shared::create(std::size_t participants) {
  const std::size_t board_bytes = round_up(sizeof(Board), alignof(Slot));
  auto region =
      tools::SharedRegion::create("ferry-demo-board", board_bytes + participants * sizeof(Slot));
  if (!region) return region.error();
  Shared s;
  s.region_ = std::move(*region);
  std::byte* base = s.region_.data();
  s.board_ = new (base) Board();
  for (std::size_t i = 0; i < participants; ++i) {
    Slot* slot = new (base + board_bytes + i * sizeof(Slot)) Slot();
    if (i == 0) s.slots_ = slot;
  }
  s.participants_ = participants;
  return s;
}

}  // namespace ferry::demo
