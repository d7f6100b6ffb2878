// SPDX-License-Identifier: Apache-2.0
// ferry/wait.hpp: how a ring side waits for the other.
//
//   spin    busy-polls (yielding the CPU every `yield_every` polls, so a spinner that
//           shares a core with the side it waits for does not burn its whole slice)
//   block   sleeps in the kernel at once (futex, or eventfd when one is attached)
//   hybrid  spins for `spin_for`, then sleeps
//
// A sleeper first announces itself in shared memory; the other side makes a syscall only
// when that announcement is there, so while both sides are awake no syscall is made.
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

#include "ferry/export.hpp"
#include "ferry/result.hpp"

namespace ferry {

enum class WaitStrategy : std::uint8_t { spin, block, hybrid };

struct WaitOptions {
  WaitStrategy strategy = WaitStrategy::hybrid;
  // hybrid: how long to poll before going to sleep.
  std::chrono::nanoseconds spin_for = std::chrono::microseconds(50);
  // spin and hybrid: polls between sched_yield() calls.
  std::uint32_t yield_every = 1024;
};

// A timeout that never ends.
inline constexpr std::chrono::nanoseconds kForever = std::chrono::nanoseconds::max();

FERRY_API std::string_view to_string(WaitStrategy strategy) noexcept;
// "spin", "block" or "hybrid"; anything else is invalid_argument naming the choices.
FERRY_API Result<WaitStrategy> parse_wait_strategy(std::string_view text);

}  // namespace ferry
