// SPDX-License-Identifier: Apache-2.0
// bench/workload/shared_state.cpp: the shared start time and progress counters
// (shared_state.hpp).
#include "workload/shared_state.hpp"

#include <atomic>
#include <string>
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
  auto region = tools::SharedRegion::create("ferry-bench-state", kLine * (std::size_t{slots} + 1));
  if (!region) return region.error();
  SharedState s;
  s.region_ = std::move(*region);
  return s;
}

Result<SharedState> SharedState::attach(int fd) {
  const std::string what = "descriptor " + std::to_string(fd) + " (the benchmark's shared state)";
  auto region = tools::SharedRegion::attach(UniqueFd(fd), what);
  if (!region) return region.error();
  if (region->size() < 2 * kLine) {
    return Error(Errc::invalid_argument, what + " is too small to be one");
  }
  SharedState s;
  s.region_ = std::move(*region);
  return s;
}

void SharedState::set_go(std::int64_t ns) noexcept {
  // Release: pairs with go()'s acquire (the clients read it after the go pipe closes).
  word_at(region_.data()).store(ns, std::memory_order_release);
}

std::int64_t SharedState::go() const noexcept {
  return word_at(region_.data()).load(std::memory_order_acquire);
}

void SharedState::set_all_ended() noexcept {
  // Relaxed: a flag; nothing is published with it.
  word_at(region_.data() + sizeof(std::int64_t)).store(1, std::memory_order_relaxed);
}

bool SharedState::all_ended() const noexcept {
  return word_at(region_.data() + sizeof(std::int64_t)).load(std::memory_order_relaxed) != 0;
}

void SharedState::add_acknowledged() noexcept {
  counter_at(region_.data() + 2 * sizeof(std::int64_t)).fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t SharedState::acknowledged() const noexcept {
  return counter_at(region_.data() + 2 * sizeof(std::int64_t)).load(std::memory_order_relaxed);
}

void SharedState::set_count(std::uint32_t slot, std::uint64_t count) noexcept {
  // Relaxed: a display value with a single writer.
  if (slot < slots())
    counter_at(region_.data() + kLine * (slot + 1)).store(count, std::memory_order_relaxed);
}

std::uint64_t SharedState::total() const noexcept {
  std::uint64_t sum = 0;
  for (std::uint32_t i = 0; i < slots(); ++i) {
    sum += counter_at(region_.data() + kLine * (i + 1)).load(std::memory_order_relaxed);
  }
  return sum;
}

}  // namespace ferry::bench
