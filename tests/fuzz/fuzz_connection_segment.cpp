// SPDX-License-Identifier: Apache-2.0
// libFuzzer: a client checking the connection segment a server handed it. The input is the
// segment's bytes (the fuzzer may write any header); whatever view_connection_segment
// accepts must lie inside the segment, and both rings in it must then either refuse to
// attach or be read without leaving the segment (ASan watches the buffer's edges).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "conn/segment.hpp"
#include "ferry/ring.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 12) return 0;
  std::uint64_t id = 0;
  std::uint32_t slot = 0;
  std::memcpy(&id, data, 8);
  std::memcpy(&slot, data + 8, 4);
  data += 12;
  size -= 12;
  // Exactly the segment's bytes on the heap, 8-byte aligned (vector<uint64_t>).
  const std::size_t segment = std::max<std::size_t>(size, ferry::detail::kConnHeaderSize);
  std::vector<std::uint64_t> words((segment + 7) / 8);
  auto* base = reinterpret_cast<std::byte*>(words.data());
  std::memcpy(base, data, size);
  auto view = ferry::detail::view_connection_segment(base, segment, id, slot);
  if (!view) return 0;
  const std::byte* end = base + segment;
  auto inside = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    return b >= base && b <= end && n <= static_cast<std::size_t>(end - b);
  };
  if (!inside(view->c2s, view->c2s_bytes) || !inside(view->s2c, view->s2c_bytes)) std::abort();
  if (auto consumer = ferry::RingConsumer::attach(view->s2c, view->s2c_bytes)) {
    (void)consumer->drain([](const ferry::RecordView&) {}, 64);
  }
  if (auto producer = ferry::RingProducer::attach(view->c2s, view->c2s_bytes)) {
    const char msg[] = "fuzz";
    (void)producer->send(std::as_bytes(std::span(msg)));
  }
  return 0;
}
