// SPDX-License-Identifier: Apache-2.0
// stat_layout.hpp: the binary layout of a server's stat segment in shared memory
// (docs/connection_format.md, docs/observability.md).
//
// Stat segment (one memfd per server, "ferry:stat:<session>/<endpoint>", never given to a
// client; observers find it through /proc/<pid>/fd):
//   0      StatHeader (4096 bytes): ident, the endpoint's counters, the extras
//   4096   one PeerEntry per slot: who holds that slot's connection
// Its version is the connection segments' (kConnLayoutVersion); the extras carry their own.
// Thread-safety: written by the server only; see EndpointCounter and PeerEntry for how
// observers read it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "common/shm_atomic.hpp"
#include "conn/conn_layout.hpp"

namespace ferry::detail {

inline constexpr std::uint32_t kStatMagic = 0x41545346;  // "FSTA" little-endian
inline constexpr std::size_t kStatHeaderSize = 4096;
inline constexpr std::size_t kNameBytes = 64;  // NUL-padded; longer names are cut

struct StatIdent {
  std::uint32_t magic;           // 0   kStatMagic
  std::uint16_t version;         // 4   kConnLayoutVersion
  std::uint16_t header_size;     // 6   kStatHeaderSize
  std::uint32_t slots;           // 8   PeerEntry records after the header
  std::uint32_t flags;           // 12  none yet
  char endpoint[kNameBytes];     // 16  the endpoint's name
  std::int64_t started_unix_ns;  // 80  when the server started (CLOCK_REALTIME)
  std::uint64_t server_token;    // 88  random; each connection segment's ident repeats it
  std::uint8_t pad[kRingBlock - 96];
};

// The server's counters for its endpoint (index into StatHeader::counters). Written by the
// server only, relaxed; `closed_*` hold the ring counters of connections that have ended,
// so that sums over connections never go down: each connection's bounded by its lifetime
// (its client can write them all) and added with saturation, so they never wrap.
// `closed_generation` is a seqlock: odd while the server adds a closing connection's
// counters and frees its PeerEntry, even otherwise (two more per closed connection); an
// observer's reading counts only if it began and ended on the same even value
// (stat/closed_totals.hpp).
enum class EndpointCounter : std::uint32_t {
  accepted,
  rejected_version,
  rejected_credentials,
  rejected_full,
  rejected_malformed,
  rejected_abandoned,
  rejected_failed,
  lost,
  protocol_errors,
  active,
  messages_in,
  messages_out,
  unhandled,
  bytes_in,
  bytes_out,
  reconnects,
  closed_in_full_waits,  // in: the client -> server rings
  closed_in_full_wait_ns,
  closed_in_producer_wakes,
  closed_in_consumer_wakes,
  closed_in_errors,
  closed_out_full_waits,  // out: the server -> client rings
  closed_out_full_wait_ns,
  closed_out_producer_wakes,
  closed_out_consumer_wakes,
  closed_out_errors,
  closed_generation,
  handler_errors,  // handler calls that threw
  count,
};
inline constexpr std::size_t kEndpointCounters = 32;
static_assert(static_cast<std::size_t>(EndpointCounter::count) <= kEndpointCounters);

// The extras: the handler-latency histogram and the values the server's process publishes
// beside the endpoint's counters (Server::publish_metric). They sit in bytes that servers
// before them left zero, and carry their own version: an observer reads them only at a
// version it knows, so 0 (an older server) means none and a layout version bump is not
// needed. Written by the server only: the histogram and the values relaxed, as the
// counters; a published name is written once, before `published` counts it (release).
// Observers treat every byte as untrusted: a name that does not parse is skipped.
inline constexpr std::uint16_t kStatExtrasVersion = 1;
inline constexpr std::uint16_t kExtrasHandlerHistogram = 1;  // flags: the server times handlers
inline constexpr std::size_t kLatencySlots = 19;             // kLatencyBuckets + 1 (over 1 s)
inline constexpr std::size_t kPublishedSlots = 32;
inline constexpr std::size_t kPublishedNameBytes = 96;  // NUL-padded: at most 95 bytes

struct StatExtras {
  std::uint16_t version;                             // +0   kStatExtrasVersion; 0: none
  std::uint16_t flags;                               // +2   kExtrasHandlerHistogram
  std::uint16_t published_slots;                     // +4   kPublishedSlots
  std::uint16_t published_name_bytes;                // +6   kPublishedNameBytes
  ShmAtomic<std::uint32_t> published;                // +8   names written (release)
  std::uint32_t pad0;                                // +12
  ShmAtomic<std::uint64_t> latency_sum_ns;           // +16  timed handler calls' total
  ShmAtomic<std::uint64_t> latency[kLatencySlots];   // +24  calls per bucket, not cumulative
  std::uint8_t pad1[256 - 24 - 8 * kLatencySlots];   // +176
  ShmAtomic<std::uint64_t> values[kPublishedSlots];  // +256 the published values
  char names[kPublishedSlots][kPublishedNameBytes];  // +512 their series names
};

struct StatHeader {
  StatIdent ident;                                       // 0
  ShmAtomic<std::uint64_t> counters[kEndpointCounters];  // 128: EndpointCounter
  StatExtras extras;                                     // 384
  std::uint8_t reserved[kStatHeaderSize - kRingBlock - 8 * kEndpointCounters - sizeof(StatExtras)];
};

// Who holds slot i's connection (at kStatHeaderSize + i * sizeof(PeerEntry)). The server
// fills the fields, then stores connection_id (release); it stores 0 when the connection
// closes, inside the closed_generation write, and fills the entry again only after it.
// Observers copy the fields once and keep the copy if the generation did not move. The ids
// are the kernel's (SO_PEERCRED), the name the hello's.
struct PeerEntry {
  ShmAtomic<std::uint64_t> connection_id;  // +0  0: free
  std::uint32_t pid;                       // +8
  std::uint32_t uid;                       // +12
  std::uint32_t gid;                       // +16
  std::uint32_t pad0;                      // +20
  std::int64_t connected_unix_ns;          // +24 when the server accepted it (CLOCK_REALTIME)
  char name[kNameBytes];                   // +32
  std::uint8_t pad[kRingBlock - 96];
};

static_assert(std::is_standard_layout_v<StatHeader>);
static_assert(sizeof(StatHeader) == kStatHeaderSize);
static_assert(offsetof(StatHeader, counters) == 128);
static_assert(offsetof(StatHeader, extras) == 384);
static_assert(offsetof(StatExtras, published) == 8);
static_assert(offsetof(StatExtras, latency_sum_ns) == 16);
static_assert(offsetof(StatExtras, latency) == 24);
static_assert(offsetof(StatExtras, values) == 256);
static_assert(offsetof(StatExtras, names) == 512);
static_assert(sizeof(StatExtras) == 3584);
static_assert(offsetof(StatIdent, slots) == 8);
static_assert(offsetof(StatIdent, endpoint) == 16);
static_assert(offsetof(StatIdent, started_unix_ns) == 80);
static_assert(offsetof(StatIdent, server_token) == 88);
static_assert(sizeof(PeerEntry) == kRingBlock);
static_assert(offsetof(PeerEntry, connected_unix_ns) == 24);
static_assert(offsetof(PeerEntry, name) == 32);

}  // namespace ferry::detail
