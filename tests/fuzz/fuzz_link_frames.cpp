// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the gateway's link frames (tools/gateway/link.hpp, ferry.v1). The
// first input byte picks the payload limit and how the rest is split into WebSocket
// messages; each message goes to one LinkReader, as a connection would deliver them. Every
// frame it hands on must lie inside its message and respect the limit and the flags rule;
// a connection's frames, written again by a LinkWriter, must read back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "gateway/link.hpp"

namespace {

constexpr std::uint32_t kMaxPayloads[] = {1u << 20, 0, 1, 64, 4096};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace gw = ferry::gateway;
  if (size == 0) return 0;
  const std::uint32_t max_payload = kMaxPayloads[(data[0] & 7) % std::size(kMaxPayloads)];
  const std::size_t chunk = 1 + (data[0] >> 3) * 16;  // message size, 1..497
  const auto input = std::as_bytes(std::span(data + 1, size - 1));

  gw::LinkReader reader(max_payload);
  gw::LinkWriter writer;
  std::vector<std::byte> rewritten;
  std::vector<std::vector<std::byte>> payloads;
  for (std::size_t at = 0; at < input.size(); at += chunk) {
    const auto message = input.subspan(at, std::min(chunk, input.size() - at));
    auto r = reader.read(message, [&](const gw::LinkFrame& f) -> ferry::Result<void> {
      const auto* begin = message.data();
      if (f.payload.size() > max_payload || f.payload.size() != f.header.length) std::abort();
      if (f.payload.data() < begin + ferry::wire::kHeaderSize ||
          f.payload.data() + f.payload.size() > begin + message.size()) {
        std::abort();
      }
      if ((f.header.flags & ~gw::kLinkFlags) != 0) std::abort();
      writer.append(rewritten, f.header.type, f.header.flags, f.header.correlation, f.payload);
      payloads.emplace_back(f.payload.begin(), f.payload.end());
      return {};
    });
    if (!r) break;  // the connection would end here
  }
  // What was accepted, written again in one message, reads back frame for frame.
  if (rewritten.empty()) return 0;
  gw::LinkReader again(max_payload);
  std::size_t n = 0;
  auto r = again.read(rewritten, [&](const gw::LinkFrame& f) -> ferry::Result<void> {
    if (n >= payloads.size() || f.payload.size() != payloads[n].size() ||
        (f.payload.size() > 0 &&
         std::memcmp(f.payload.data(), payloads[n].data(), f.payload.size()) != 0)) {
      std::abort();
    }
    ++n;
    return {};
  });
  if (!r || n != payloads.size()) std::abort();
  return 0;
}
