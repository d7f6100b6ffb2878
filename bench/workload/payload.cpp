// SPDX-License-Identifier: Apache-2.0
// bench/workload/payload.cpp: payload pattern and checks (payload.hpp).
#include "workload/payload.hpp"

#include <cstring>

#include "common/pattern.hpp"

namespace ferry::bench {

namespace {

constexpr std::uint32_t kEndMagic = 0x444E'4546u;  // "FEND" little-endian
constexpr std::size_t kHeaderWords = kHeaderBytes / 8;

template <class T>
T load(const std::byte* p) noexcept {
  T v{};
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
void store(std::byte* p, T v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace

void fill_payload(std::span<std::byte> out, std::uint32_t producer, std::uint64_t seq,
                  std::uint64_t stamp_ns) noexcept {
  std::byte* p = out.data();
  const std::uint64_t seed = tools::pattern_key(producer, seq);
  store(p, stamp_ns);
  store(p + 8, seq);
  store(p + 16, producer);
  store(p + 20, static_cast<std::uint32_t>(seed >> 32));
  tools::fill_pattern(out.subspan(kHeaderBytes), seed, kHeaderWords);
}

std::optional<PayloadHead> check_payload(std::span<const std::byte> in, std::size_t size) noexcept {
  if (in.size() != size || size < kHeaderBytes) return std::nullopt;
  const std::byte* p = in.data();
  PayloadHead head;
  head.stamp_ns = load<std::uint64_t>(p);
  head.seq = load<std::uint64_t>(p + 8);
  head.producer = load<std::uint32_t>(p + 16);
  const std::uint64_t seed = tools::pattern_key(head.producer, head.seq);
  if (load<std::uint32_t>(p + 20) != static_cast<std::uint32_t>(seed >> 32)) return std::nullopt;
  const std::size_t words = size / 8;
  auto word_ok = [&](std::size_t k) noexcept {
    return load<std::uint64_t>(p + 8 * k) == tools::pattern_word(seed, k);
  };
  if (const std::size_t tail = size % 8; tail != 0) {
    const std::uint64_t w = tools::pattern_word(seed, words);
    if (std::memcmp(p + 8 * words, &w, tail) != 0) return std::nullopt;
  }
  if (words <= kHeaderWords) return head;
  if (head.seq % kFullCheckEvery == 0) {
    if (!tools::check_pattern(in.subspan(kHeaderBytes), seed, kHeaderWords)) return std::nullopt;
    return head;
  }
  // First, last and three in between.
  const std::size_t last = words - 1;
  for (std::size_t k : {std::size_t{3}, words / 4, words / 2, words - words / 4, last}) {
    if (k >= 3 && k <= last && !word_ok(k)) return std::nullopt;
  }
  return head;
}

std::array<std::byte, kEndBytes> encode_end(std::uint32_t producer,
                                            std::uint64_t next_seq) noexcept {
  std::array<std::byte, kEndBytes> out{};
  store(out.data(), kEndMagic);
  store(out.data() + 4, producer);
  store(out.data() + 8, next_seq);
  return out;
}

std::optional<EndMarker> decode_end(std::span<const std::byte> in) noexcept {
  if (in.size() != kEndBytes || load<std::uint32_t>(in.data()) != kEndMagic) return std::nullopt;
  return EndMarker{load<std::uint32_t>(in.data() + 4), load<std::uint64_t>(in.data() + 8)};
}

}  // namespace ferry::bench
