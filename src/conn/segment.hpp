// SPDX-License-Identifier: Apache-2.0
// segment.hpp: making (server) and checking (client) connection and doorbell segments.
// Layouts: conn_layout.hpp. The client trusts nothing it maps: every offset and size is
// checked against the segment's real size before use.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "conn/conn_layout.hpp"
#include "ferry/ring.hpp"
#include "ferry/shm.hpp"

namespace ferry::detail {

// `n` rounded up to whole kSegmentAlign pages.
constexpr std::uint64_t align_up(std::uint64_t n) noexcept {
  return (n + kSegmentAlign - 1) & ~std::uint64_t{kSegmentAlign - 1};
}

// Magic and layout version of a segment's ident, read once by the caller: `what` names the
// segment in the error.
Result<void> check_ident(const char* what, std::uint32_t magic, std::uint32_t expected_magic,
                         std::uint16_t version, std::uint16_t header_size,
                         std::size_t expected_header_size);

struct SegmentGeometry {
  std::uint64_t c2s_offset = 0;
  std::uint64_t s2c_offset = 0;
  std::uint64_t size = 0;
};
SegmentGeometry segment_geometry(std::uint32_t c2s_capacity, std::uint32_t s2c_capacity) noexcept;

// A new sealed memfd with a formatted header and both rings.
Result<SharedMemory> create_connection_segment(std::uint64_t connection_id, std::uint32_t slot,
                                               std::uint32_t c2s_capacity,
                                               std::uint32_t s2c_capacity, bool crc);

// What one side knows of a connection segment, checked once.
struct ConnView {
  ConnHeader* header = nullptr;
  void* c2s = nullptr;
  std::size_t c2s_bytes = 0;
  void* s2c = nullptr;
  std::size_t s2c_bytes = 0;
};
// Checks magic, version and that both rings lie inside the segment and do not overlap;
// `connection_id` and `slot` must match what the handshake said.
Result<ConnView> view_connection_segment(const SharedMemory& segment, std::uint64_t connection_id,
                                         std::uint32_t slot);
// The same over `segment_size` bytes at `memory` (8-byte aligned).
Result<ConnView> view_connection_segment(void* memory, std::size_t segment_size,
                                         std::uint64_t connection_id, std::uint32_t slot);

// Server: writes why it closes the connection (ConnGoodbyeBlock), before closing the socket.
void write_goodbye(ConnHeader& header, GoodbyeReason reason, std::string_view text) noexcept;
// Client: what the server wrote there, if anything (empty if not): copied once, cut at
// kGoodbyeTextBytes, anything but printable ASCII replaced by '?'.
std::string read_goodbye(const ConnHeader& header);

std::size_t doorbell_bytes(std::uint32_t slots) noexcept;
Result<SharedMemory> create_doorbell(std::uint32_t slots);
struct DoorbellView {
  DoorbellHeader* header = nullptr;
  ShmAtomic<std::uint64_t>* words = nullptr;
  std::uint32_t slots = 0;
};
// Checks a mapped doorbell segment (client side: `slot` must be one of its bits).
Result<DoorbellView> view_doorbell(const SharedMemory& segment, std::uint32_t slot);

// The wake segment (conn_layout.hpp): the server's sleep word, writable only through the
// server's own mapping (sealed F_SEAL_FUTURE_WRITE); clients map it read-only.
Result<SharedMemory> create_wake_segment();
// Checks a mapped wake segment: magic, version, size.
Result<const WakeHeader*> view_wake_segment(const SharedMemory& segment);

}  // namespace ferry::detail
