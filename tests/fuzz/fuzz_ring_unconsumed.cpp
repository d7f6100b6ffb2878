// SPDX-License-Identifier: Apache-2.0
// libFuzzer: a producer reading back what its dead consumer never released
// (RingProducer::for_each_unconsumed) from arbitrary shared memory. The input supplies the
// consumer's index (anyone's to write), the producer's own index and record count, and the
// record bytes; every record handed out must lie inside the record space, or the walk
// ends with an error; it never reads outside the segment (ASan watches the buffer's edges).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ferry/ring.hpp"
#include "ring/ring_layout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::uint32_t kCapacity = 4096;
  if (size < 25) return 0;
  ferry::RingConfig cfg;
  cfg.capacity = kCapacity;
  cfg.crc = (data[24] & 1) != 0;
  std::vector<std::byte> mem(ferry::ring_bytes(kCapacity));
  if (!ferry::ring_format(mem.data(), mem.size(), cfg)) std::abort();
  auto* ring = reinterpret_cast<ferry::detail::RingHeader*>(mem.data());
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::uint64_t records = 0;
  std::memcpy(&head, data, 8);
  std::memcpy(&tail, data + 8, 8);
  std::memcpy(&records, data + 16, 8);
  tail &= ~std::uint64_t{7} & 0xffffffffull;  // an index the producer could have reached
  ring->consumer.head.store(head, std::memory_order_relaxed);
  ring->producer.tail.store(tail, std::memory_order_relaxed);
  ring->producer.records.store(records, std::memory_order_relaxed);
  std::byte* bytes = mem.data() + ferry::detail::kRingHeaderSize;
  std::memcpy(bytes, data + 25, std::min<std::size_t>(size - 25, kCapacity));

  auto producer = ferry::RingProducer::attach(mem.data(), mem.size());
  if (!producer) return 0;  // a geometry it refuses is fine
  const std::byte* begin = bytes;
  const std::byte* end = bytes + kCapacity;
  std::size_t seen = 0;
  auto r = producer->for_each_unconsumed([&](const ferry::RecordView& v) {
    const std::byte* p = v.payload.data();
    if (v.payload.size() > producer->max_payload()) std::abort();
    if (!v.payload.empty() && (p < begin || p + v.payload.size() > end)) std::abort();
    ++seen;
  });
  if (r && *r != seen) std::abort();
  return 0;
}
