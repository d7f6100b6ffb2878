// SPDX-License-Identifier: Apache-2.0
// tools/common/pattern.hpp: payload bytes that follow from a 64-bit key (who sent the
// message and its number), so that a receiver can check every byte knowing only the key.
// ferry bench, the demo and the tests fill and check their payloads with it.
//
// Word k of the pattern of `key` is key ^ (k * golden ratio); a partial last word keeps its
// low bytes. `first_word` numbers the first word of a span, so that a header of whole words
// can come before the pattern and the words keep their numbers.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace ferry::tools {

inline constexpr std::uint64_t kGolden = 0x9E37'79B9'7F4A'7C15ull;

// splitmix64's finalizer: every input bit moves every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xBF58'476D'1CE4'E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D0'49BB'1331'11EBull;
  return x ^ (x >> 31);
}

// The key of message `seq` of sender `who`.
constexpr std::uint64_t pattern_key(std::uint64_t who, std::uint64_t seq) noexcept {
  return mix64(seq ^ mix64(who + 1));
}

constexpr std::uint64_t pattern_word(std::uint64_t key, std::uint64_t k) noexcept {
  return key ^ (k * kGolden);
}

inline void fill_pattern(std::span<std::byte> out, std::uint64_t key,
                         std::size_t first_word = 0) noexcept {
  const std::size_t words = out.size() / 8;
  // k * kGolden by addition: the loop vectorizes (a 64-bit multiply would not).
  std::uint64_t k_golden = first_word * kGolden;
  for (std::size_t i = 0; i < words; ++i, k_golden += kGolden) {
    const std::uint64_t w = key ^ k_golden;
    std::memcpy(out.data() + 8 * i, &w, sizeof w);
  }
  if (const std::size_t tail = out.size() % 8; tail != 0) {
    const std::uint64_t w = pattern_word(key, first_word + words);
    std::memcpy(out.data() + 8 * words, &w, tail);
  }
}

// Whether `in` holds exactly what fill_pattern(key, first_word) writes.
inline bool check_pattern(std::span<const std::byte> in, std::uint64_t key,
                          std::size_t first_word = 0) noexcept {
  const std::size_t words = in.size() / 8;
  std::uint64_t diff = 0;
  std::uint64_t k_golden = first_word * kGolden;
  for (std::size_t i = 0; i < words; ++i, k_golden += kGolden) {
    std::uint64_t w = 0;
    std::memcpy(&w, in.data() + 8 * i, sizeof w);
    diff |= w ^ key ^ k_golden;
  }
  if (const std::size_t tail = in.size() % 8; tail != 0) {
    const std::uint64_t w = pattern_word(key, first_word + words);
    if (std::memcmp(in.data() + 8 * words, &w, tail) != 0) return false;
  }
  return diff == 0;
}

}  // namespace ferry::tools
