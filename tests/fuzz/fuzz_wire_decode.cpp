// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for wire::decode. The first input byte picks the limits, the rest is the
// frame. A frame that decodes must re-encode to the same bytes and decode again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "ferry/wire.hpp"

namespace {

constexpr std::uint32_t kMaxPayloads[] = {ferry::wire::kMaxPayload, 0, 1, 64, 4096};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace wire = ferry::wire;
  if (size == 0) return 0;
  const wire::Limits limits{.max_payload = kMaxPayloads[(data[0] >> 1) % std::size(kMaxPayloads)],
                            .check_crc = (data[0] & 1) == 0};
  const auto frame = std::as_bytes(std::span(data + 1, size - 1));

  const auto h = wire::decode(frame, limits);
  if (!h) return 0;
  if (h->length > limits.max_payload) std::abort();

  // Re-encode: the 20 covered bytes and the payload come back byte for byte, and so does
  // the CRC when decode checked it.
  const auto payload = frame.subspan(wire::kHeaderSize, h->length);
  std::vector<std::byte> out(wire::kHeaderSize + payload.size());
  std::memcpy(out.data() + wire::kHeaderSize, payload.data(), payload.size());
  const std::uint32_t crc = wire::encode(*h, payload, out.data());
  const std::size_t same = limits.check_crc ? out.size() : wire::kCrcCoveredHeaderBytes;
  if (std::memcmp(out.data(), frame.data(), same) != 0) std::abort();
  if (limits.check_crc && crc != h->crc) std::abort();

  const auto again = wire::decode(out, limits);
  if (!again || again->crc != crc || again->seq != h->seq || again->length != h->length)
    std::abort();
  return 0;
}
