// SPDX-License-Identifier: Apache-2.0
// CRC32C throughput: the dispatched ferry::crc32c against the portable fallback. Each call
// continues the previous CRC, so calls run back to back as when checksumming a stream.
#include <benchmark/benchmark.h>

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

BENCHMARK(BM_Crc32c)->Arg(64)->Arg(1024)->Arg(65536);
BENCHMARK(BM_Crc32cPortable)->Arg(64)->Arg(1024)->Arg(65536);

}  // namespace
