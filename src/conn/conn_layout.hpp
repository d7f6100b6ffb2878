// SPDX-License-Identifier: Apache-2.0
// conn_layout.hpp: the binary layout of a connection segment and of a server's doorbell
// and wake segments in shared memory (docs/connection_format.md); the stat segment's is in
// stat/stat_layout.hpp.
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
// Thread-safety: ident blocks are written once before sharing; the client block by the
// client, the server block by the server; bitmap words by everyone (atomic RMW only); the
// wake segment by the server only.
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
// segment (which clients only read). The stat segment (stat/stat_layout.hpp) shares it.
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

}  // namespace ferry::detail
