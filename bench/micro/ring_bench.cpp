// SPDX-License-Identifier: Apache-2.0
// Ring push+pop in one thread against a plain memcpy of the same size: what the ring
// itself costs over copying the bytes in and out.
//   BM_Memcpy/<size>            copy in and copy out (two memcpy), the floor
//   BM_RingRoundTrip/<size>     send() + recv(): two copies + headers + CRC32C on both sides
//   BM_RingRoundTripNoCrc/<size> the same on a ring formatted without CRCs
//   BM_RingZeroCopy/<size>      reserve/commit + peek/release, writing and reading in place
//   BM_RingBatch/<size>         send_batch() of 32 + drain(): one publish per side per 32
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "ferry/ring.hpp"

namespace {

struct Ring {
  explicit Ring(bool crc) {
    ferry::RingConfig cfg;
    cfg.capacity = 1u << 20;
    cfg.crc = crc;
    size = ferry::ring_bytes(cfg.capacity);
    mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    (void)ferry::ring_format(mem, size, cfg);
    producer = ferry::RingProducer::attach(mem, size).value();
    consumer = ferry::RingConsumer::attach(mem, size).value();
  }
  ~Ring() { munmap(mem, size); }
  void* mem;
  std::size_t size;
  ferry::RingProducer producer;
  ferry::RingConsumer consumer;
};

void set_bytes(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Memcpy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> src(n, std::byte{1}), mid(n), dst(n);
  for (auto _ : state) {
    std::memcpy(mid.data(), src.data(), n);
    benchmark::ClobberMemory();
    std::memcpy(dst.data(), mid.data(), n);
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(state);
}

void round_trip(benchmark::State& state, bool crc) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Ring ring(crc);
  std::vector<std::byte> src(n, std::byte{1}), dst(n);
  for (auto _ : state) {
    if (!ring.producer.send(src).ok()) state.SkipWithError("send failed");
    if (!ring.consumer.recv(dst).ok()) state.SkipWithError("recv failed");
    benchmark::DoNotOptimize(dst.data());
  }
  set_bytes(state);
}

void BM_RingRoundTrip(benchmark::State& state) {
  round_trip(state, true);
}
void BM_RingRoundTripNoCrc(benchmark::State& state) {
  round_trip(state, false);
}

void BM_RingZeroCopy(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  Ring ring(false);
  for (auto _ : state) {
    auto room = ring.producer.reserve(n);
    std::memset(room->data(), 1, n);
    ring.producer.commit(n);
    auto view = ring.consumer.peek();
    benchmark::DoNotOptimize(view->payload.data());
    ring.consumer.release();
  }
  set_bytes(state);
}

void BM_RingBatch(benchmark::State& state) {
  constexpr std::int64_t kBatch = 32;
  const auto n = static_cast<std::size_t>(state.range(0));
  Ring ring(true);
  std::vector<std::byte> src(n, std::byte{1}), dst(n);
  std::vector<std::span<const std::byte>> batch(static_cast<std::size_t>(kBatch),
                                                std::span<const std::byte>(src));
  for (auto _ : state) {
    std::size_t done = 0;
    while (done < batch.size()) {
      auto sent = ring.producer.send_batch(std::span(batch).subspan(done));
      if (!sent) state.SkipWithError("send_batch failed");
      done += *sent;
      (void)ring.consumer.drain([&](const ferry::RecordView& v) {
        std::memcpy(dst.data(), v.payload.data(), v.payload.size());
      });
    }
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * state.range(0));
}

BENCHMARK(BM_Memcpy)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_RingRoundTrip)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_RingRoundTripNoCrc)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_RingZeroCopy)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_RingBatch)->Arg(64)->Arg(1024)->Arg(65536);

}  // namespace
