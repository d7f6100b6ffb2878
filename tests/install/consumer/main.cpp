// SPDX-License-Identifier: Apache-2.0
// Uses the installed headers and library: a ring round trip, the published CRC check, an
// LZ4 round trip (so lz4/zstd must be on the link line) and a client's clear error when no
// server runs; the version macros agree with the library's version().
#include <ferry/client.hpp>
#include <ferry/codec.hpp>
#include <ferry/crc32c.hpp>
#include <ferry/ring.hpp>
#include <ferry/version.hpp>

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
  std::vector<std::byte> text(4096, std::byte{'a'});
  std::vector<std::byte> packed(ferry::compress_bound(ferry::Compression::zstd, text.size()));
  auto n = ferry::compress(ferry::Compression::zstd, 0, text, packed);
  if (!n || *n == 0) return 6;
  ferry::ClientOptions options;
  options.endpoint = "no-such-endpoint";
  options.session = "install-check";
  auto client = ferry::Client::connect(options);
  if (client || client.code() != ferry::Errc::not_found) return 7;
  static_assert(FERRY_VERSION_NUMBER >= 100, "FERRY_VERSION_NUMBER: 0.1.0 and later");
  if (ferry::version() != FERRY_VERSION_STRING) return 8;
  std::puts("installed ferry works");
  return 0;
}
