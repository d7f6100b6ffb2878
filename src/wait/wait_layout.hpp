// SPDX-License-Identifier: Apache-2.0
// wait_layout.hpp: the shared-memory block through which one side of a ring announces that
// it sleeps and the other wakes it (waiting.hpp). A ring header holds two
// (ring_layout.hpp: data_wait, space_wait); its offsets are part of docs/ring_format.md.
// Thread-safety: see waiting.hpp (one waiter and one waker per block).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/shm_atomic.hpp"

namespace ferry::detail {

inline constexpr std::size_t kWaitBlockSize = 128;  // a cache line of its own, padded

// `sleeping` is set by the waiter and cleared by whichever side gets to it first; `seq` is
// bumped by the waker and is the futex word the waiter sleeps on; `want` is the index the
// waiter needs the other side's counter to reach before a wake is worth a syscall.
struct WaitBlock {
  ShmAtomic<std::uint32_t> sleeping;  // +0
  ShmAtomic<std::uint32_t> seq;       // +4
  ShmAtomic<std::uint64_t> want;      // +8
  std::uint8_t pad[kWaitBlockSize - 16];
};

static_assert(sizeof(WaitBlock) == kWaitBlockSize);
static_assert(offsetof(WaitBlock, seq) == 4);
static_assert(offsetof(WaitBlock, want) == 8);

}  // namespace ferry::detail
