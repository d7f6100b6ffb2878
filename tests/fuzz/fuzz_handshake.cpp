// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the handshake decoders (src/control/handshake.hpp). The first input
// byte picks the decoder (even: hello, odd: welcome), the rest is the message.
// A hello that decodes must re-encode to exactly the same bytes (its decoder accepts one
// encoding only); a welcome that decodes must survive encode/decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>

#include "control/handshake.hpp"

namespace {

using ferry::detail::Hello;
using ferry::detail::Welcome;

bool printable(const std::string& s) {
  for (const char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

void check_hello(std::span<const std::byte> bytes) {
  std::uint16_t version = 0xffff;
  const auto hello = ferry::detail::decode_hello(bytes, &version);
  if (!hello) {
    // The version is reported whenever the magic was recognised.
    if (hello.code() == ferry::Errc::bad_version && version == ferry::detail::kProtocolVersion) {
      std::abort();
    }
    return;
  }
  if (version != ferry::detail::kProtocolVersion || hello->name.size() > 64 ||
      !printable(hello->name) || (hello->flags & ~ferry::detail::kHelloFlagReconnect) != 0) {
    std::abort();
  }
  const auto again = ferry::detail::encode_hello(*hello);
  if (bytes.size() != again.size() || std::memcmp(bytes.data(), again.data(), again.size()) != 0) {
    std::abort();
  }
}

void check_welcome(std::span<const std::byte> bytes) {
  const auto welcome = ferry::detail::decode_welcome(bytes);
  if (!welcome) return;
  if (welcome->message.size() > ferry::detail::kMaxWelcomeMessage || !printable(welcome->message) ||
      static_cast<std::uint16_t>(welcome->status) > 5) {
    std::abort();
  }
  const auto again = ferry::detail::decode_welcome(ferry::detail::encode_welcome(*welcome));
  if (!again || again->version != welcome->version || again->status != welcome->status ||
      again->connection_id != welcome->connection_id || again->slot != welcome->slot ||
      again->segment_size != welcome->segment_size ||
      again->doorbell_size != welcome->doorbell_size || again->message != welcome->message) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto bytes = std::as_bytes(std::span(data + 1, size - 1));
  if ((data[0] & 1) == 0) {
    check_hello(bytes);
  } else {
    check_welcome(bytes);
  }
  return 0;
}
