// tools/demo/payload.cpp: payload format and checks (payload.hpp).
#include "payload.hpp"

#include <cstring>

#include "common/pattern.hpp"

namespace ferry::demo {

void fill(std::span<std::byte> out, std::uint32_t kind, std::uint32_t who, std::uint64_t seq,
          std::int64_t stamp_ns) noexcept {
  const Head head{kind, who, seq, stamp_ns, 0};
  std::memcpy(out.data(), &head, sizeof head);
  ferry::tools::fill_pattern(out.subspan(sizeof head), ferry::tools::pattern_key(who, seq),
                             sizeof head / 8);
}

bool read_head(std::span<const std::byte> in, Head& head) noexcept {
  if (in.size() < sizeof head) return false;
  std::memcpy(&head, in.data(), sizeof head);
  return true;
}

bool pattern_ok(std::span<const std::byte> in, const Head& head) noexcept {
  if (in.size() % 8 != 0 || in.size() < sizeof(Head)) return false;
  return ferry::tools::check_pattern(
      in.subspan(sizeof(Head)), ferry::tools::pattern_key(head.who, head.seq), sizeof(Head) / 8);
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
