// SPDX-License-Identifier: Apache-2.0
// shm_atomic.hpp: the one atomic type allowed in structures that live in shared memory.
//
// ShmAtomic<T> is a std::atomic<T> that is checked to be lock-free at compile time (a
// lock-based atomic would put a process-local lock in shared memory) and to have exactly
// the size and alignment of T, so the binary layout is the documented one. Every
// shared-memory struct uses it and nothing else atomic (`make lint` refuses std::atomic
// in src/*/*layout*.hpp; each layout's static_asserts pin its offsets). Memory orders are
// always explicit: each call site says which order and why.
// Thread-safety: as std::atomic, across threads and processes.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace ferry::detail {

template <class T>
class ShmAtomic {
  static_assert(std::is_trivially_copyable_v<T>);
  static_assert(std::atomic<T>::is_always_lock_free, "shared-memory atomics must be lock-free");
  static_assert(sizeof(std::atomic<T>) == sizeof(T), "atomic<T> must have T's size");
  static_assert(alignof(std::atomic<T>) == sizeof(T), "atomic<T> must be naturally aligned");

 public:
  ShmAtomic() noexcept : v_(T{}) {}
  ShmAtomic(const ShmAtomic&) = delete;
  ShmAtomic& operator=(const ShmAtomic&) = delete;

  T load(std::memory_order order) const noexcept { return v_.load(order); }
  void store(T value, std::memory_order order) noexcept { v_.store(value, order); }
  T exchange(T value, std::memory_order order) noexcept { return v_.exchange(value, order); }
  T fetch_add(T value, std::memory_order order) noexcept { return v_.fetch_add(value, order); }
  T fetch_or(T value, std::memory_order order) noexcept { return v_.fetch_or(value, order); }

  // Single-writer counters: a relaxed load and store, no read-modify-write instruction.
  void add_relaxed(T value) noexcept {
    v_.store(static_cast<T>(v_.load(std::memory_order_relaxed) + value), std::memory_order_relaxed);
  }

  // The std::atomic itself, for an API that hands a value in shared memory to the
  // application (Server::publish_metric).
  std::atomic<T>& std_atomic() noexcept { return v_; }

  // The word's address, for futex(2). Only for 32-bit words.
  std::uint32_t* futex_word() noexcept requires(sizeof(T) == 4) {
    return reinterpret_cast<std::uint32_t*>(&v_);  // NOLINT: atomic<u32> is layout-compatible
  }

 private:
  std::atomic<T> v_;
};

}  // namespace ferry::detail
