// libFuzzer: an observer (ferry stat, ferryd's metrics) reading a server's stat segment. The
// input is the segment's bytes; whatever view_stat_segment accepts must keep every peer
// entry inside the segment, and reading the counters, names and entries must stay inside
// it too (ASan watches the buffer's edges).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "conn/segment.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Exactly the segment's bytes on the heap, 8-byte aligned (vector<uint64_t>).
  std::vector<std::uint64_t> words((size + 7) / 8 + 1);
  auto* base = reinterpret_cast<std::byte*>(words.data());
  std::memcpy(base, data, size);
  auto view = ferry::detail::view_stat_segment(base, size);
  if (!view) return 0;
  const std::size_t slots = view->header->ident.slots;
  const auto* first = reinterpret_cast<const std::byte*>(view->peers);
  if (first < base || first + slots * sizeof(ferry::detail::PeerEntry) > base + size) {
    std::abort();
  }
  (void)ferry::detail::endpoint_stats(*view->header);  // any values; reading must stay inside
  std::size_t seen = ferry::detail::read_name(view->header->ident.endpoint).size();
  for (std::size_t i = 0; i < slots && i < 256; ++i) {
    const ferry::detail::PeerEntry& p = view->peers[i];
    if (p.connection_id.load(std::memory_order_acquire) == 0) continue;
    seen += ferry::detail::read_name(p.name).size();
  }
  if (seen > (1 + slots) * ferry::detail::kNameBytes) std::abort();
  return 0;
}
