// conn_layout.hpp: the binary layout of a connection segment and of a server's doorbell
// segment in shared memory (docs/connection_format.md).
//
// Connection segment (one memfd per connection, made by the server, passed to the client):
//   0      ConnHeader (4096 bytes): ident, then one block per side
//   4096   ring client -> server (ring_bytes(c2s_capacity), rounded up to 4096)
//   ...    ring server -> client
// Doorbell segment (one memfd per server, mapped by every client):
//   0      DoorbellHeader (512 bytes): ident, the server's wait block
//   512    bitmap: bit `slot` of word slot / 64 is set by that connection's producer after
//          it publishes; the server exchanges whole words with 0 to collect them.
// Thread-safety: ident blocks are written once before sharing; the client block by the
// client, the server block by the server; bitmap words by everyone (atomic RMW only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "common/shm_atomic.hpp"
#include "ring/ring_layout.hpp"

namespace ferry::detail {

inline constexpr std::uint32_t kConnMagic = 0x4e4f4346;      // "FCON" little-endian
inline constexpr std::uint32_t kDoorbellMagic = 0x4c424446;  // "FDBL" little-endian
inline constexpr std::uint16_t kConnLayoutVersion = 1;
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
  std::uint8_t pad[kRingBlock - 48];
};

// Written by the client only (issue 6 adds its counters here).
struct ConnClientBlock {
  ShmAtomic<std::uint32_t> pid;  // 128
  std::uint8_t pad[kRingBlock - 4];
};

// Written by the server only.
struct ConnServerBlock {
  ShmAtomic<std::uint32_t> pid;  // 256
  std::uint8_t pad[kRingBlock - 4];
};

struct ConnHeader {
  ConnIdent ident;         // 0
  ConnClientBlock client;  // 128
  ConnServerBlock server;  // 256
  std::uint8_t reserved[kConnHeaderSize - 3 * kRingBlock];
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

struct DoorbellIdent {
  std::uint32_t magic;        // 0   kDoorbellMagic
  std::uint16_t version;      // 4   kConnLayoutVersion
  std::uint16_t header_size;  // 6   kDoorbellHeaderSize
  std::uint32_t slots;        // 8   bits in the bitmap (a multiple of 64)
  std::uint32_t flags;        // 12  none yet
  std::uint8_t pad[kRingBlock - 16];
};

struct DoorbellHeader {
  DoorbellIdent ident;  // 0
  RingWaitBlock wait;   // 128: the server announces here that it sleeps
  std::uint8_t reserved[kDoorbellHeaderSize - 2 * kRingBlock];
};

static_assert(std::is_standard_layout_v<DoorbellHeader>);
static_assert(sizeof(DoorbellHeader) == kDoorbellHeaderSize);
static_assert(offsetof(DoorbellHeader, wait) == 128);
static_assert(offsetof(DoorbellIdent, slots) == 8);

}  // namespace ferry::detail
