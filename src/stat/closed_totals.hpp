// SPDX-License-Identifier: Apache-2.0
// closed_totals.hpp: the closed-connection totals of a stat segment (conn_layout.hpp,
// EndpointCounter::closed_*): what the server adds when a connection closes, the bounds it
// holds a connection's ring counters to first, and the seqlock (closed_generation) that
// lets an observer read the totals and the live connections as one moment
// (docs/connection_format.md#stat-segment, docs/observability.md).
//
// A connection's ring counters live in its connection segment, which its client maps
// writable: every one of them, the server's blocks included, is the client's word. Before
// they count towards an endpoint's totals they are bounded by what the connection's
// lifetime allows (bounded_ring_counters()), and the totals add with saturation, so that
// no client can make them wrap, go down or jump further than its own lifetime.
// Thread-safety: retire_connection() and stat_write_* from the server's loop thread only
// (the stat segment's single writer); stat_read_* from any thread of any process.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "conn/segment.hpp"
#include "ferry/ring.hpp"
#include "ferry/stat.hpp"
#include "stat/stat_segment.hpp"

namespace ferry::detail {

// Counts (full waits, wake-up syscalls, refused frames) move at most once per this many
// nanoseconds of a connection's life. Generous: a syscall, or a full wait (which reads the
// other side's cache line, publishes and looks at a clock), takes longer.
inline constexpr std::uint64_t kMinNsPerCount = 10;
// Added to a connection's lifetime: its client may start (and wait) as soon as it has the
// Welcome, a moment before the server stamps connected_unix_ns.
inline constexpr std::uint64_t kLifetimeSlackNs = 1'000'000;

// One ring counter the closed totals keep, in RingStats and in DirectionTotals. Per
// direction they follow each other in EndpointCounter in this order, `in` first.
struct ClosedField {
  std::uint64_t RingStats::*ring;
  std::uint64_t DirectionTotals::*totals;
  bool is_time;  // nanoseconds (bounded by the lifetime), else a count
};
inline constexpr std::array<ClosedField, 5> kClosedFields{{
    {&RingStats::full_waits, &DirectionTotals::full_waits, false},
    {&RingStats::full_wait_ns, &DirectionTotals::full_wait_ns, true},
    {&RingStats::producer_wakes, &DirectionTotals::producer_wakes, false},
    {&RingStats::consumer_wakes, &DirectionTotals::consumer_wakes, false},
    {&RingStats::errors, &DirectionTotals::errors, false},
}};
static_assert(static_cast<std::size_t>(EndpointCounter::closed_out_full_waits) ==
              static_cast<std::size_t>(EndpointCounter::closed_in_full_waits) +
                  kClosedFields.size());
static_assert(static_cast<std::size_t>(EndpointCounter::closed_generation) ==
              static_cast<std::size_t>(EndpointCounter::closed_out_full_waits) +
                  kClosedFields.size());

// The stat-segment counter that keeps field `field` (an index into kClosedFields) of one
// direction's closed totals.
inline ShmAtomic<std::uint64_t>& closed_counter(StatHeader& header, bool in, std::size_t field) {
  const auto first = static_cast<std::size_t>(in ? EndpointCounter::closed_in_full_waits
                                                 : EndpointCounter::closed_out_full_waits);
  return header.counters[first + field];
}
inline const ShmAtomic<std::uint64_t>& closed_counter(const StatHeader& header, bool in,
                                                      std::size_t field) {
  return closed_counter(const_cast<StatHeader&>(header), in, field);  // NOLINT: same storage
}

// a + b, or UINT64_MAX if that does not fit.
constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

// `r` with the counters the closed totals keep bounded by what a connection that connected
// at `connected_unix_ns` can have done by `now_unix_ns` (lifetime plus kLifetimeSlackNs):
// time waited at most that long, counts at most one per kMinNsPerCount of it. Every other
// field is left as it is.
RingStats bounded_ring_counters(RingStats r, std::int64_t connected_unix_ns,
                                std::int64_t now_unix_ns) noexcept;

// Server: the connection in `slot` closes. Adds its ring counters (read once by the caller,
// bounded here) to the closed totals and frees its peer entry, as one write of the
// closed_generation seqlock, before its segment goes.
void retire_connection(const StatView& view, std::uint32_t slot, const RingStats& in,
                       const RingStats& out, std::int64_t now_unix_ns) noexcept;

// Server: a write of the closed_generation seqlock (the generation odd from begin to end):
// what the caller stores in between, with relaxed stores, observers see all or none of.
void stat_write_begin(StatHeader& header) noexcept;
void stat_write_end(StatHeader& header) noexcept;

// Observer: a reading of the closed totals and of the peer entries, with whatever it reads
// of the live connections' segments, is one moment if stat_read_settled(header, begin) holds
// after it, with begin = stat_read_begin(header) taken before it. Between the two, load the
// totals and entries with relaxed atomic loads (connection_id with acquire) and copy each
// entry's other fields once.
std::uint64_t stat_read_begin(const StatHeader& header) noexcept;
bool stat_read_settled(const StatHeader& header, std::uint64_t begin) noexcept;

}  // namespace ferry::detail
