// SPDX-License-Identifier: Apache-2.0
// CRC32C throughput: the dispatched ferry::crc32c against the portable fallback. Each call
// continues the previous CRC, so calls run back to back as when checksumming a stream. And
// Crc32cJoin: preparing one, and a header's CRC joined to a payload's.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "crc/crc32c_impl.hpp"
#include "ferry/crc32c.hpp"

namespace {

template <std::uint32_t (*Crc)(const void*, std::size_t, std::uint32_t) noexcept>
void run(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  std::vector<unsigned char> buf(size);
  std::mt19937 rng(42);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  std::uint32_t crc = 0;
  for (auto _ : state) {
    crc = Crc(buf.data(), size, crc);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Crc32c(benchmark::State& state) {
  run<ferry::crc32c>(state);
}
void BM_Crc32cPortable(benchmark::State& state) {
  run<ferry::detail::crc32c_portable>(state);
}

// A fan-out's work per copy instead of a CRC of the payload: the 20 header bytes' CRC
// joined to the payload's (the join prepared once per payload size).
void BM_Crc32cHeaderJoin(benchmark::State& state) {
  const ferry::Crc32cJoin join(static_cast<std::size_t>(state.range(0)));
  std::array<unsigned char, 20> header{};
  std::uint32_t crc = 0x12345678u;
  for (auto _ : state) {
    header[8] = static_cast<unsigned char>(crc);  // each header differs (its sequence)
    crc = join(ferry::crc32c(header.data(), header.size()), crc);
    benchmark::DoNotOptimize(crc);
  }
}

void BM_Crc32cJoinPrepare(benchmark::State& state) {
  for (auto _ : state) {
    ferry::Crc32cJoin join(static_cast<std::size_t>(state.range(0)));
    benchmark::DoNotOptimize(join);
  }
}

BENCHMARK(BM_Crc32c)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_Crc32cPortable)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_Crc32cHeaderJoin)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_Crc32cJoinPrepare)->Arg(64)->Arg(1024)->Arg(65536);

}  // namespace
