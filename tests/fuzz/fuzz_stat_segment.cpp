// SPDX-License-Identifier: Apache-2.0
// libFuzzer: an observer (ferry stat, ferry exporter) reading a server's stat segment. The
// input is the segment's bytes; whatever view_stat_segment accepts must keep every peer
// entry inside the segment, and reading the counters, names and entries must stay inside
// it too (ASan watches the buffer's edges). With any values in it: a reading with an odd
// generation is never settled; ring counters bounded by an entry's lifetime (any start
// time, any clock) never exceed the bound nor grow; and a connection retired into it
// frees its entry, moves the generation by two and never makes a closed total go down.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "conn/segment.hpp"
#include "stat/closed_totals.hpp"
#include "stat/extras.hpp"
#include "stat/stat_segment.hpp"

namespace {

using ferry::RingStats;
namespace detail = ferry::detail;

// Ring counters made of the input's bytes at `at` (as many as there are).
RingStats ring_counters(const std::uint8_t* data, std::size_t size, std::size_t at) {
  std::uint64_t words[5] = {};
  if (at < size) std::memcpy(words, data + at, std::min(sizeof words, size - at));
  RingStats r;
  r.full_waits = words[0];
  r.full_wait_ns = words[1];
  r.producer_wakes = words[2];
  r.consumer_wakes = words[3];
  r.errors = words[4];
  return r;
}

void check_bounded(const RingStats& raw, std::int64_t connected, std::int64_t now) {
  const RingStats b = detail::bounded_ring_counters(raw, connected, now);
  const std::uint64_t lived =
      now > connected ? static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(connected) : 0;
  const std::uint64_t lifetime = detail::saturating_add(lived, detail::kLifetimeSlackNs);
  for (const detail::ClosedField& f : detail::kClosedFields) {
    const std::uint64_t most = f.is_time ? lifetime : lifetime / detail::kMinNsPerCount;
    if (b.*f.ring > raw.*f.ring || b.*f.ring > most) std::abort();
    if (raw.*f.ring <= most && b.*f.ring != raw.*f.ring) std::abort();  // honest: untouched
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Exactly the segment's bytes on the heap, 8-byte aligned (vector<uint64_t>).
  std::vector<std::uint64_t> words((size + 7) / 8 + 1);
  auto* base = reinterpret_cast<std::byte*>(words.data());
  std::memcpy(base, data, size);
  auto view = detail::view_stat_segment(base, size);
  if (!view) return 0;
  const std::size_t slots = view->header->ident.slots;
  const auto* first = reinterpret_cast<const std::byte*>(view->peers);
  if (first < base || first + slots * sizeof(detail::PeerEntry) > base + size) {
    std::abort();
  }
  const std::uint64_t begin = detail::stat_read_begin(*view->header);
  (void)detail::endpoint_stats(*view->header);  // any values; reading must stay inside
  // The extras: whatever the names hold, only series that parse come out, at most the slots.
  const std::vector<ferry::PublishedMetric> published =
      detail::read_published(view->header->extras);
  if (published.size() > detail::kPublishedSlots) std::abort();
  for (const ferry::PublishedMetric& m : published) {
    if (!detail::parse_series(m.series)) std::abort();
  }
  (void)detail::read_latency(view->header->extras);
  std::size_t seen = detail::read_name(view->header->ident.endpoint).size();
  const std::int64_t now = view->header->ident.started_unix_ns;  // any clock
  for (std::size_t i = 0; i < slots && i < 256; ++i) {
    const detail::PeerEntry& p = view->peers[i];
    if (p.connection_id.load(std::memory_order_acquire) == 0) continue;
    seen += detail::read_name(p.name).size();
    // The entry's own bytes as a connection's ring counters, against its start time.
    check_bounded(ring_counters(data, size, detail::kStatHeaderSize + i * sizeof(p) + 32),
                  p.connected_unix_ns, now);
  }
  if (seen > (1 + slots) * detail::kNameBytes) std::abort();
  if (begin % 2 != 0 && detail::stat_read_settled(*view->header, begin)) std::abort();

  if (slots == 0) return 0;
  const std::uint32_t slot = static_cast<std::uint32_t>(begin % std::min<std::size_t>(slots, 256));
  std::uint64_t before[2][detail::kClosedFields.size()];
  for (std::size_t d = 0; d < 2; ++d) {
    for (std::size_t i = 0; i < detail::kClosedFields.size(); ++i) {
      before[d][i] =
          detail::closed_counter(*view->header, d == 0, i).load(std::memory_order_relaxed);
    }
  }
  detail::retire_connection(*view, slot, ring_counters(data, size, 128),
                            ring_counters(data, size, 168), now);
  for (std::size_t d = 0; d < 2; ++d) {
    for (std::size_t i = 0; i < detail::kClosedFields.size(); ++i) {
      const std::uint64_t after =
          detail::closed_counter(*view->header, d == 0, i).load(std::memory_order_relaxed);
      if (after < before[d][i]) std::abort();
    }
  }
  if (detail::stat_read_begin(*view->header) != begin + 2) std::abort();
  if (view->peers[slot].connection_id.load(std::memory_order_relaxed) != 0) std::abort();
  return 0;
}
