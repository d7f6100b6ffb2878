// SPDX-License-Identifier: Apache-2.0
// The closed-connection totals and their seqlock (closed_totals.hpp).
//
// closed_generation is a seqlock with one writer, the server's loop:
//
//   server, closing a connection:           observer:
//     g = generation (it alone writes it)     b = generation (acquire)       <- READ A
//     generation = g + 1 (odd)                loads of totals and entries
//     fence (release)          <- WRITE A       (relaxed; connection_id acquire)
//     totals += bounded counters (relaxed)    fence (acquire)                <- READ B
//     entry.connection_id = 0 (relaxed)       settled: b even, generation == b
//     generation = g + 2 (release) <- WRITE B
//     fence (release)          <- WRITE C
//
// (stat_write_begin() is WRITE A, stat_write_end() WRITE B and C.)
// A load before READ B that saw a store after WRITE A (or after WRITE C: the slot's next
// occupant, whose fields accept writes before its release store of connection_id) makes
// the generation load after READ B see at least g + 1: the observer reads again. An
// observer whose READ A sees g + 2 sees every store before WRITE B.
#include "stat/closed_totals.hpp"

#include <algorithm>

#include "wait/waiting.hpp"

namespace ferry::detail {

namespace {

ShmAtomic<std::uint64_t>& generation(StatHeader& header) {
  return header.counters[static_cast<std::size_t>(EndpointCounter::closed_generation)];
}
const ShmAtomic<std::uint64_t>& generation(const StatHeader& header) {
  return header.counters[static_cast<std::size_t>(EndpointCounter::closed_generation)];
}

// Release and acquire fences. ThreadSanitizer does not model fences (GCC refuses them under
// -fsanitize=thread): there full_fence() (waiting.hpp), a sequentially consistent
// read-modify-write of one word, stands in.
void release_fence() noexcept {
#if defined(FERRY_TSAN)
  full_fence();
#else
  std::atomic_thread_fence(std::memory_order_release);
#endif
}
void acquire_fence() noexcept {
#if defined(FERRY_TSAN)
  full_fence();
#else
  std::atomic_thread_fence(std::memory_order_acquire);
#endif
}

}  // namespace

RingStats bounded_ring_counters(RingStats r, std::int64_t connected_unix_ns,
                                std::int64_t now_unix_ns) noexcept {
  // Wall-clock times (the entry's is CLOCK_REALTIME): a clock set back makes the lifetime
  // shorter, never negative.
  const std::uint64_t lived =
      now_unix_ns > connected_unix_ns
          ? static_cast<std::uint64_t>(now_unix_ns) - static_cast<std::uint64_t>(connected_unix_ns)
          : 0;
  const std::uint64_t lifetime_ns = saturating_add(lived, kLifetimeSlackNs);
  for (const ClosedField& f : kClosedFields) {
    const std::uint64_t most = f.is_time ? lifetime_ns : lifetime_ns / kMinNsPerCount;
    r.*f.ring = std::min(r.*f.ring, most);
  }
  return r;
}

void retire_connection(const StatView& view, std::uint32_t slot, const RingStats& in,
                       const RingStats& out, std::int64_t now_unix_ns) noexcept {
  StatHeader& header = *view.header;
  PeerEntry& who = view.peers[slot];
  // Ours: the server wrote it when it accepted the connection.
  const std::int64_t connected = who.connected_unix_ns;
  const RingStats bounded[2] = {bounded_ring_counters(in, connected, now_unix_ns),
                                bounded_ring_counters(out, connected, now_unix_ns)};
  stat_write_begin(header);
  for (std::size_t d = 0; d < 2; ++d) {
    for (std::size_t i = 0; i < kClosedFields.size(); ++i) {
      ShmAtomic<std::uint64_t>& total = closed_counter(header, d == 0, i);
      total.store(
          saturating_add(total.load(std::memory_order_relaxed), bounded[d].*kClosedFields[i].ring),
          std::memory_order_relaxed);
    }
  }
  who.connection_id.store(0, std::memory_order_relaxed);
  stat_write_end(header);
}

void stat_write_begin(StatHeader& header) noexcept {
  ShmAtomic<std::uint64_t>& gen = generation(header);
  // SYNC POINT WRITE A (odd, then a release fence): no store the caller makes next is seen
  // by an observer whose next look at the generation misses this one; pairs with READ B
  // (the acquire fence in stat_read_settled()). We alone write the generation.
  gen.store(gen.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  release_fence();
}

void stat_write_end(StatHeader& header) noexcept {
  ShmAtomic<std::uint64_t>& gen = generation(header);
  // SYNC POINT WRITE B (release): even again; an observer whose READ A (stat_read_begin())
  // sees it sees every store the caller made since stat_write_begin().
  gen.store(gen.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  // SYNC POINT WRITE C (release fence): everything above comes before what the server
  // writes next, such as a freed entry's next occupant's fields (written plainly before its
  // connection_id); pairs with READ B, so an observer that copied any of them reads again.
  release_fence();
}

std::uint64_t stat_read_begin(const StatHeader& header) noexcept {
  // SYNC POINT READ A (acquire): pairs with WRITE B in stat_write_end().
  return generation(header).load(std::memory_order_acquire);
}

bool stat_read_settled(const StatHeader& header, std::uint64_t begin) noexcept {
  // SYNC POINT READ B (acquire fence): the loads the caller made since stat_read_begin()
  // come before the load below; pairs with WRITE A and WRITE C.
  acquire_fence();
  return begin % 2 == 0 && generation(header).load(std::memory_order_relaxed) == begin;
}

}  // namespace ferry::detail
