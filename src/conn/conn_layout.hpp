// conn_layout.hpp: the binary layout of a connection segment and of a server's doorbell
// and stat segments in shared memory (docs/connection_format.md).
//
// Connection segment (one memfd per connection, made by the server, passed to the client):
//   0      ConnHeader (4096 bytes): ident, then one block per side
//   4096   ring client -> server (ring_bytes(c2s_capacity), rounded up to 4096)
//   ...    ring server -> client
// Doorbell segment (one memfd per server, mapped by every client):
//   0      DoorbellHeader (512 bytes): ident
//   512    bitmap: bit `slot` of word slot / 64 is set by that connection's producer after
//          it publishes; the server exchanges whole words with 0 to collect them. Every
//          client can write every word: the bitmap is a hint, never the only way to be seen.
// Wake segment (one memfd per server, "ferry:wake"; clients map it read-only, the memfd is
// sealed with F_SEAL_FUTURE_WRITE once the server has mapped it):
//   0      WakeHeader (4096 bytes): ident, the server's sleep word
// Stat segment (one memfd per server, "ferry:stat:<session>/<endpoint>", never given to a
// client; observers find it through /proc/<pid>/fd):
//   0      StatHeader (4096 bytes): ident, the endpoint's counters
//   4096   one PeerEntry per slot: who holds that slot's connection
// Thread-safety: ident blocks are written once before sharing; the client block by the
// client, the server block by the server; bitmap words by everyone (atomic RMW only); the
// wake and stat segments by the server only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "common/shm_atomic.hpp"
#include "ring/ring_layout.hpp"

namespace ferry::detail {

inline constexpr std::uint32_t kConnMagic = 0x4e4f4346;      // "FCON" little-endian
inline constexpr std::uint32_t kDoorbellMagic = 0x4c424446;  // "FDBL" little-endian
inline constexpr std::uint32_t kWakeMagic = 0x4b415746;      // "FWAK" little-endian
// 2: the server's wait block left the doorbell (which every client writes) for the wake
// segment (which clients only read).
inline constexpr std::uint16_t kConnLayoutVersion = 2;
inline constexpr std::size_t kConnHeaderSize = 4096;
inline constexpr std::size_t kDoorbellHeaderSize = 512;
inline constexpr std::size_t kSegmentAlign = 4096;

struct ConnIdent {
  std::uint32_t magic;          // 0   kConnMagic
  std::uint16_t version;        // 4   kConnLayoutVersion
  std::uint16_t header_size;    // 6   kConnHeaderSize
  std::uint64_t connection_id;  // 8
  std::uint32_t slot;           // 16  the connection's doorbell bit
  std::uint32_t c2s_capacity;   // 20
  std::uint64_t c2s_offset;     // 24
  std::uint64_t s2c_offset;     // 32
  std::uint32_t s2c_capacity;   // 40
  std::uint32_t flags;          // 44  none yet
  std::uint64_t server_token;   // 48  its server's (StatIdent::server_token), for observers
  std::uint8_t pad[kRingBlock - 56];
};

// Written by the client only.
struct ConnClientBlock {
  ShmAtomic<std::uint32_t> pid;         // 128
  ShmAtomic<std::uint32_t> reconnects;  // 132 times this client connected again before this
  std::uint8_t pad[kRingBlock - 8];
};

// Written by the server only.
struct ConnServerBlock {
  ShmAtomic<std::uint32_t> pid;  // 256
  std::uint8_t pad[kRingBlock - 4];
};

// Why the server closed the connection, written by the server only, before it closes the
// socket: `text` and `length` first, then `reason` (release). The client reads it once it
// finds the connection gone and treats it as untrusted bytes (bounded, printable only).
inline constexpr std::size_t kGoodbyeTextBytes = 248;
enum class GoodbyeReason : std::uint32_t { none = 0, protocol_error = 1, server_closed = 2 };
struct ConnGoodbyeBlock {
  ShmAtomic<std::uint32_t> reason;  // 384: GoodbyeReason, 0 until the server says goodbye
  std::uint32_t length;             // 388: bytes of text
  char text[kGoodbyeTextBytes];     // 392
};

struct ConnHeader {
  ConnIdent ident;           // 0
  ConnClientBlock client;    // 128
  ConnServerBlock server;    // 256
  ConnGoodbyeBlock goodbye;  // 384
  std::uint8_t reserved[kConnHeaderSize - 3 * kRingBlock - sizeof(ConnGoodbyeBlock)];
};

static_assert(std::is_standard_layout_v<ConnHeader>);
static_assert(sizeof(ConnIdent) == kRingBlock);
static_assert(sizeof(ConnHeader) == kConnHeaderSize);
static_assert(offsetof(ConnIdent, connection_id) == 8);
static_assert(offsetof(ConnIdent, slot) == 16);
static_assert(offsetof(ConnIdent, c2s_capacity) == 20);
static_assert(offsetof(ConnIdent, c2s_offset) == 24);
static_assert(offsetof(ConnIdent, s2c_offset) == 32);
static_assert(offsetof(ConnIdent, s2c_capacity) == 40);
static_assert(offsetof(ConnHeader, client) == 128);
static_assert(offsetof(ConnHeader, server) == 256);
static_assert(offsetof(ConnIdent, server_token) == 48);
static_assert(offsetof(ConnHeader, client.reconnects) == 132);
static_assert(sizeof(ConnGoodbyeBlock) == 256);
static_assert(offsetof(ConnHeader, goodbye) == 384);
static_assert(offsetof(ConnHeader, goodbye.text) == 392);

struct DoorbellIdent {
  std::uint32_t magic;        // 0   kDoorbellMagic
  std::uint16_t version;      // 4   kConnLayoutVersion
  std::uint16_t header_size;  // 6   kDoorbellHeaderSize
  std::uint32_t slots;        // 8   bits in the bitmap (a multiple of 64)
  std::uint32_t flags;        // 12  none yet
  std::uint8_t pad[kRingBlock - 16];
};

struct DoorbellHeader {
  DoorbellIdent ident;                                      // 0
  std::uint8_t reserved[kDoorbellHeaderSize - kRingBlock];  // 128: zero
};

static_assert(std::is_standard_layout_v<DoorbellHeader>);
static_assert(sizeof(DoorbellHeader) == kDoorbellHeaderSize);
static_assert(offsetof(DoorbellIdent, slots) == 8);

inline constexpr std::size_t kWakeSegmentSize = 4096;

struct WakeIdent {
  std::uint32_t magic;        // 0   kWakeMagic
  std::uint16_t version;      // 4   kConnLayoutVersion
  std::uint16_t header_size;  // 6   kWakeSegmentSize
  std::uint32_t flags;        // 8   none yet
  std::uint8_t pad[kRingBlock - 12];
};

// The server's sleep, told to its clients. `state` is (epoch << 1) | 1 from the moment the
// server announces a sleep (epoch counts announcements) until it is awake again, and
// epoch << 1 while it is awake. A producer that published while the state was odd wakes the
// server through its own socket, once per epoch (waiting.hpp: server_needs_wake()).
struct WakeHeader {
  WakeIdent ident;                 // 0
  ShmAtomic<std::uint64_t> state;  // 128: written by the server only
  std::uint8_t pad[kRingBlock - 8];
  std::uint8_t reserved[kWakeSegmentSize - 2 * kRingBlock];
};

static_assert(std::is_standard_layout_v<WakeHeader>);
static_assert(sizeof(WakeHeader) == kWakeSegmentSize);
static_assert(offsetof(WakeHeader, state) == 128);
static_assert(offsetof(WakeIdent, flags) == 8);

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

struct StatHeader {
  StatIdent ident;                                       // 0
  ShmAtomic<std::uint64_t> counters[kEndpointCounters];  // 128: EndpointCounter
  std::uint8_t reserved[kStatHeaderSize - kRingBlock - 8 * kEndpointCounters];
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
static_assert(offsetof(StatIdent, slots) == 8);
static_assert(offsetof(StatIdent, endpoint) == 16);
static_assert(offsetof(StatIdent, started_unix_ns) == 80);
static_assert(offsetof(StatIdent, server_token) == 88);
static_assert(sizeof(PeerEntry) == kRingBlock);
static_assert(offsetof(PeerEntry, connected_unix_ns) == 24);
static_assert(offsetof(PeerEntry, name) == 32);

}  // namespace ferry::detail
