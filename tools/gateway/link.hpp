// SPDX-License-Identifier: Apache-2.0
// tools/gateway/link.hpp: ferry.v1, the gateway link protocol (docs/gateway_protocol.md):
// ferry frames (24-byte header with CRC32C, then the payload), one or more per binary
// WebSocket message.
//
// LinkWriter numbers a connection's outgoing frames and appends them to a message buffer;
// LinkReader checks a received message frame by frame (version, flags, CRC, sequence, that
// the frames tile the message exactly) and hands each good frame on. Neither knows about
// WebSocket: the caller moves the bytes.
// Thread-safety: one writer and one reader per connection, each on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/traceparent.hpp"
#include "ferry/result.hpp"
#include "ferry/wire.hpp"

namespace ferry::gateway {

inline constexpr std::string_view kSubprotocol = "ferry.v1";

// Link control types (above ferry's own reserved types from 0xff00).
inline constexpr std::uint16_t kHelloType = 0xff80;
inline constexpr std::uint16_t kTraceType = 0xff81;
inline constexpr std::uint16_t kGoawayType = 0xff82;
inline constexpr std::uint16_t kFirstLinkType = 0xff80;

// Flags a link frame may carry.
inline constexpr std::uint8_t kLinkFlags = wire::kFlagReply | wire::kFlagError;

// One frame as received: its header and a view of its payload inside the message.
struct LinkFrame {
  wire::Header header;
  std::span<const std::byte> payload;

  bool is_request() const noexcept {
    return header.correlation != 0 && (header.flags & wire::kFlagReply) == 0;
  }
  bool is_reply() const noexcept { return (header.flags & wire::kFlagReply) != 0; }
  bool is_error() const noexcept { return (header.flags & wire::kFlagError) != 0; }
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};  // NOLINT
  }
};

class LinkWriter {
 public:
  // Appends one frame (the next sequence number) to `message`.
  void append(std::vector<std::byte>& message, std::uint16_t type, std::uint8_t flags,
              std::uint32_t correlation, std::span<const std::byte> payload);
  std::uint64_t frames() const noexcept { return next_seq_; }

 private:
  std::uint64_t next_seq_ = 0;
};

class LinkReader {
 public:
  using OnFrame = std::function<Result<void>(const LinkFrame&)>;

  // `max_payload`: the largest payload a frame may have.
  explicit LinkReader(std::uint32_t max_payload) : max_payload_(max_payload) {}

  // Checks `message` frame by frame and calls `on_frame` for each good one, in order. The
  // first bad frame (or an error from on_frame) ends the reading: its error names the frame
  // (its position in the message and on the connection) and the check that failed; the
  // connection cannot go on after it (the sequence is broken).
  Result<void> read(std::span<const std::byte> message, const OnFrame& on_frame);
  std::uint64_t frames() const noexcept { return next_seq_; }

 private:
  std::uint32_t max_payload_;
  std::uint64_t next_seq_ = 0;
};

// The hello payload: {"node": ..., "max_payload": ...}.
std::string hello_payload(std::string_view node, std::uint32_t max_payload);
struct Hello {
  std::string node;
  std::uint32_t max_payload = 0;
};
// Parses a hello payload; invalid_argument saying what is wrong.
Result<Hello> parse_hello(std::string_view payload);

// W3C trace context (common/traceparent.hpp), for the trace frames.
using tools::is_traceparent;
using tools::new_traceparent;
using tools::trace_id;

}  // namespace ferry::gateway
