// SPDX-License-Identifier: Apache-2.0
// libFuzzer: the ring consumer reading arbitrary shared memory. The input supplies the
// consumer's starting index, the producer's published index and the record bytes; the
// consumer must return records that lie inside the record space or an error, and never
// read outside the segment (ASan watches the heap buffer's edges).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ferry/ring.hpp"
#include "ring/ring_layout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint32_t kCapacity = 4096;
  if (size < 17) return 0;
  ferry::RingConfig cfg;
  cfg.capacity = kCapacity;
  cfg.crc = (data[16] & 1) != 0;
  // Exactly the ring's bytes, so any stray read past it is a heap overflow.
  std::vector<std::byte> mem(ferry::ring_bytes(kCapacity));
  if (!ferry::ring_format(mem.data(), mem.size(), cfg)) std::abort();
  auto* ring = reinterpret_cast<ferry::detail::RingHeader*>(mem.data());
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  head &= ~std::uint64_t{7} & 0xffffffffull;  // a start the consumer could have reached
  ring->consumer.head.store(head, std::memory_order_relaxed);
  ring->producer.tail.store(tail, std::memory_order_relaxed);
  std::byte* records = mem.data() + ferry::detail::kRingHeaderSize;
  const std::size_t n = std::min<std::size_t>(size - 17, kCapacity);
  std::memcpy(records, data + 17, n);

  auto consumer = ferry::RingConsumer::attach(mem.data(), mem.size());
  if (!consumer) std::abort();
  const std::byte* begin = records;
  const std::byte* end = records + kCapacity;
  auto r = consumer->drain([&](const ferry::RecordView& v) {
    const std::byte* p = v.payload.data();
    if (v.payload.size() > consumer->max_payload()) std::abort();
    if (!v.payload.empty() && (p < begin || p + v.payload.size() > end)) std::abort();
  });
  // Whatever happened, a second call gives the same answer or an error, never a crash.
  (void)consumer->peek();
  (void)r;
  return 0;
}
