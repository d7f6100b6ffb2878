// Uses the installed headers and library: a ring round trip and the published CRC check.
#include <ferry/crc32c.hpp>
#include <ferry/ring.hpp>

#include <cstdio>
#include <vector>

int main() {
  if (ferry::crc32c("123456789", 9) != 0xE3069283u) return 1;
  ferry::RingConfig cfg;
  cfg.capacity = 4096;
  std::vector<std::byte> mem(ferry::ring_bytes(cfg.capacity) + 8);
  void* base = mem.data() + (8 - reinterpret_cast<std::uintptr_t>(mem.data()) % 8) % 8;
  if (!ferry::ring_format(base, ferry::ring_bytes(cfg.capacity), cfg)) return 2;
  auto p = ferry::RingProducer::attach(base, ferry::ring_bytes(cfg.capacity));
  auto c = ferry::RingConsumer::attach(base, ferry::ring_bytes(cfg.capacity));
  if (!p || !c) return 3;
  const char msg[] = "hello";
  if (!p->send(std::as_bytes(std::span(msg)))) return 4;
  auto v = c->peek();
  if (!v || v->payload.size() != sizeof msg) return 5;
  std::puts("installed ferry works");
  return 0;
}
