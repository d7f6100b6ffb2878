// tools/demo/payload.cpp: payload format and checks (payload.hpp).
#include "payload.hpp"

#include <cstring>

namespace ferry::demo {

namespace {

constexpr std::uint64_t kStep = 0x9e3779b97f4a7c15ULL;

// splitmix64: a different starting word for every (who, seq).
std::uint64_t key_of(std::uint32_t who, std::uint64_t seq) noexcept {
  std::uint64_t z = (std::uint64_t{who} << 40) ^ seq ^ 0x5eed5eed5eed5eedULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t load(const std::byte* p) noexcept {
  std::uint64_t w = 0;
  std::memcpy(&w, p, sizeof w);
  return w;
}

}  // namespace

void fill(std::span<std::byte> out, std::uint32_t kind, std::uint32_t who, std::uint64_t seq,
          std::int64_t stamp_ns) noexcept {
  const Head head{kind, who, seq, stamp_ns, 0};
  std::memcpy(out.data(), &head, sizeof head);
  std::uint64_t w = key_of(who, seq);
  for (std::size_t at = sizeof head; at + 8 <= out.size(); at += 8, w += kStep) {
    std::memcpy(out.data() + at, &w, sizeof w);
  }
}

bool read_head(std::span<const std::byte> in, Head& head) noexcept {
  if (in.size() < sizeof head) return false;
  std::memcpy(&head, in.data(), sizeof head);
  return true;
}

bool pattern_ok(std::span<const std::byte> in, const Head& head) noexcept {
  if (in.size() % 8 != 0 || in.size() < sizeof(Head)) return false;
  std::uint64_t want = key_of(head.who, head.seq);
  std::uint64_t diff = 0;
  for (std::size_t at = sizeof(Head); at < in.size(); at += 8, want += kStep) {
    diff |= load(in.data() + at) ^ want;
  }
  return diff == 0;
}

void invert(std::span<const std::byte> in, std::span<std::byte> out) noexcept {
  for (std::size_t i = 0; i < in.size() && i < out.size(); ++i) out[i] = ~in[i];
}

bool is_inverse(std::span<const std::byte> request, std::span<const std::byte> reply) noexcept {
  if (request.size() != reply.size()) return false;
  std::byte diff{0};
  for (std::size_t i = 0; i < request.size(); ++i) diff |= request[i] ^ ~reply[i];
  return diff == std::byte{0};
}

}  // namespace ferry::demo
