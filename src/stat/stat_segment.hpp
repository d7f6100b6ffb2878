// SPDX-License-Identifier: Apache-2.0
// stat_segment.hpp: making (server) and checking (observers) a server's stat segment.
// Layout: stat_layout.hpp.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ferry/server.hpp"
#include "ferry/shm.hpp"
#include "stat/stat_layout.hpp"

namespace ferry::detail {

// The stat segment, "ferry:stat:<session>/<endpoint>" (stat_layout.hpp): a header with the
// endpoint's name, start time, a random token, zeroed counters and empty extras (saying
// whether the server times handlers), and `slots` free PeerEntry records.
Result<SharedMemory> create_stat_segment(std::uint32_t slots, std::string_view session,
                                         std::string_view endpoint, bool handler_histogram = false);
std::size_t stat_segment_bytes(std::uint32_t slots) noexcept;
struct StatView {
  StatHeader* header = nullptr;
  PeerEntry* peers = nullptr;  // header->ident.slots of them
};
// Checks a mapped stat segment: magic, version, and that its entries fit in `size`.
Result<StatView> view_stat_segment(void* memory, std::size_t size);
// The counters of a stat header as ServerStats (relaxed loads, any thread or process).
ServerStats endpoint_stats(const StatHeader& header) noexcept;

// CLOCK_REALTIME in nanoseconds since the epoch (the start times observers show).
std::int64_t unix_now_ns() noexcept;
// Copies `text` into a NUL-padded name field (cut to kNameBytes - 1 bytes).
void copy_name(char (&field)[kNameBytes], std::string_view text) noexcept;
// The text of a name field written by copy_name (stops at the first NUL or the end).
std::string read_name(const char (&field)[kNameBytes]);

}  // namespace ferry::detail
