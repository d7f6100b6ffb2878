// SPDX-License-Identifier: Apache-2.0
// A server's stat segment (stat_segment.hpp).
#include "stat/stat_segment.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>
#include <string>

#include "conn/segment.hpp"
#include "stat/extras.hpp"

namespace ferry::detail {

std::size_t stat_segment_bytes(std::uint32_t slots) noexcept {
  return static_cast<std::size_t>(
      align_up(kStatHeaderSize + std::uint64_t{slots} * sizeof(PeerEntry)));
}

Result<SharedMemory> create_stat_segment(std::uint32_t slots, std::string_view session,
                                         std::string_view endpoint, bool handler_histogram) {
  std::string label = "stat:";
  label.append(session).append("/").append(endpoint);
  auto shm = SharedMemory::create_anonymous(label, stat_segment_bytes(slots));
  if (!shm) return shm.error();
  auto* header = new (shm->data()) StatHeader{};
  header->ident.version = kConnLayoutVersion;
  header->ident.header_size = static_cast<std::uint16_t>(kStatHeaderSize);
  header->ident.slots = slots;
  copy_name(header->ident.endpoint, endpoint);
  header->ident.started_unix_ns = unix_now_ns();
  std::uint64_t token = 0;
  if (::getrandom(&token, sizeof token, GRND_NONBLOCK) != sizeof token) {
    token = static_cast<std::uint64_t>(unix_now_ns()) ^
            (std::uint64_t{0x9e3779b97f4a7c15} * static_cast<std::uint64_t>(::getpid()));
  }
  header->ident.server_token = token;
  init_extras(header->extras, handler_histogram);
  // The entries' pages stay untouched (zero, not resident) until a slot is used.
  header->ident.magic = kStatMagic;
  return shm;
}

Result<StatView> view_stat_segment(void* memory, std::size_t size) {
  if (size < kStatHeaderSize) return Error(Errc::corrupt, "stat segment smaller than its header");
  auto* header = std::launder(static_cast<StatHeader*>(memory));
  const StatIdent id = header->ident;
  if (auto ok = check_ident("stat segment", id.magic, kStatMagic, id.version, id.header_size,
                            kStatHeaderSize);
      !ok) {
    return ok.error();
  }
  if (size < stat_segment_bytes(id.slots)) {
    return Error(Errc::corrupt,
                 "stat segment smaller than its " + std::to_string(id.slots) + " entries");
  }
  StatView v;
  v.header = header;
  v.peers = std::launder(reinterpret_cast<PeerEntry*>(  // NOLINT: shared layout
      static_cast<std::byte*>(memory) + kStatHeaderSize));
  return v;
}

ServerStats endpoint_stats(const StatHeader& header) noexcept {
  auto get = [&](EndpointCounter which) {
    return header.counters[static_cast<std::size_t>(which)].load(std::memory_order_relaxed);
  };
  ServerStats s;
  s.accepted = get(EndpointCounter::accepted);
  s.rejected_version = get(EndpointCounter::rejected_version);
  s.rejected_credentials = get(EndpointCounter::rejected_credentials);
  s.rejected_full = get(EndpointCounter::rejected_full);
  s.rejected_malformed = get(EndpointCounter::rejected_malformed);
  s.rejected_abandoned = get(EndpointCounter::rejected_abandoned);
  s.rejected_failed = get(EndpointCounter::rejected_failed);
  s.rejected = s.rejected_version + s.rejected_credentials + s.rejected_full +
               s.rejected_malformed + s.rejected_abandoned + s.rejected_failed;
  s.lost = get(EndpointCounter::lost);
  s.protocol_errors = get(EndpointCounter::protocol_errors);
  s.active = get(EndpointCounter::active);
  s.messages_in = get(EndpointCounter::messages_in);
  s.messages_out = get(EndpointCounter::messages_out);
  s.unhandled = get(EndpointCounter::unhandled);
  s.bytes_in = get(EndpointCounter::bytes_in);
  s.bytes_out = get(EndpointCounter::bytes_out);
  s.reconnects = get(EndpointCounter::reconnects);
  s.handler_errors = get(EndpointCounter::handler_errors);
  return s;
}

std::int64_t unix_now_ns() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

void copy_name(char (&field)[kNameBytes], std::string_view text) noexcept {
  const std::size_t n = std::min(text.size(), kNameBytes - 1);
  std::memcpy(field, text.data(), n);
  std::memset(field + n, 0, kNameBytes - n);
}

std::string read_name(const char (&field)[kNameBytes]) {
  std::size_t n = 0;
  while (n < kNameBytes && field[n] != '\0') ++n;
  return {field, n};
}

}  // namespace ferry::detail
