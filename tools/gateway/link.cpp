// SPDX-License-Identifier: Apache-2.0
// tools/gateway/link.cpp: ferry.v1 frames (link.hpp).
#include "gateway/link.hpp"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

namespace ferry::gateway {

void LinkWriter::append(std::vector<std::byte>& message, std::uint16_t type, std::uint8_t flags,
                        std::uint32_t correlation, std::span<const std::byte> payload) {
  wire::Header h;
  h.length = static_cast<std::uint32_t>(payload.size());
  h.type = type;
  h.flags = flags;
  h.seq = next_seq_++;
  h.correlation = correlation;
  const std::size_t at = message.size();
  message.resize(at + wire::kHeaderSize + payload.size());
  wire::encode(h, payload, message.data() + at);
  if (!payload.empty()) {
    std::copy(payload.begin(), payload.end(),
              message.begin() + static_cast<std::ptrdiff_t>(at) +
                  static_cast<std::ptrdiff_t>(wire::kHeaderSize));
  }
}

Result<void> LinkReader::read(std::span<const std::byte> message, const OnFrame& on_frame) {
  if (message.empty())
    return Error(Errc::bad_length, "an empty message (a frame or more expected)");
  std::size_t at = 0;
  for (std::size_t index = 0; at < message.size(); ++index) {
    const auto where = [&] {
      return "frame " + std::to_string(index + 1) + " of the message (number " +
             std::to_string(next_seq_) + " on the connection): ";
    };
    wire::Limits limits;
    limits.max_payload = max_payload_;
    auto header = wire::decode(message.subspan(at), limits);
    if (!header) return Error(header.code(), where() + header.error().message());
    if ((header->flags & ~kLinkFlags) != 0) {
      return Error(
          Errc::bad_flags, where() + "flags 0x" + [&] {
            constexpr char kHex[] = "0123456789abcdef";
            return std::string{kHex[header->flags >> 4], kHex[header->flags & 15]};
          }() + ": a link frame may be a reply (0x04) or an error reply (0x0c) and nothing else");
    }
    if ((header->flags & wire::kFlagError) != 0 && (header->flags & wire::kFlagReply) == 0) {
      return Error(Errc::bad_flags, where() + "the error flag without the reply flag");
    }
    if ((header->flags & wire::kFlagReply) != 0 && header->correlation == 0) {
      return Error(Errc::bad_flags, where() + "a reply with correlation id 0");
    }
    if (header->seq != next_seq_) {
      return Error(Errc::bad_sequence, where() + "sequence number " + std::to_string(header->seq) +
                                           ", expected " + std::to_string(next_seq_));
    }
    ++next_seq_;
    LinkFrame frame;
    frame.header = *header;
    frame.payload = message.subspan(at + wire::kHeaderSize, header->length);
    at += wire::kHeaderSize + header->length;
    if (auto r = on_frame(frame); !r) return r;
  }
  return {};
}

std::string hello_payload(std::string_view node, std::uint32_t max_payload) {
  nlohmann::ordered_json j;
  j["node"] = node;
  j["max_payload"] = max_payload;
  return j.dump();
}

Result<Hello> parse_hello(std::string_view payload) {
  const auto bad = [](const std::string& why) {
    return Error(Errc::invalid_argument, "a hello that is not what ferry.v1 says: " + why);
  };
  const nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  Hello hello;
  const auto node = j.find("node");
  if (node == j.end() || !node->is_string()) return bad("no \"node\" string");
  hello.node = node->get<std::string>();
  const auto max = j.find("max_payload");
  if (max == j.end() || !max->is_number_unsigned() ||
      max->get<std::uint64_t>() > wire::kMaxPayload) {
    return bad("no \"max_payload\" number from 0 to " + std::to_string(wire::kMaxPayload));
  }
  hello.max_payload = max->get<std::uint32_t>();
  return hello;
}

}  // namespace ferry::gateway
