// SPDX-License-Identifier: Apache-2.0
// ferry/message.hpp: what a receiver sees of one message, and the reserved message types.
//
// A Message is a view: its payload points into the ring (or into the receiver's private
// copy or decompression buffer) and is valid only until the callback that received it
// returns. Copy what you keep. Payloads of compressed messages arrive decompressed; `flags`
// then no longer carries the compression bits.
//
// A payload in the ring is memory the sender can still write while you read it
// (`in_shared_memory`): its bytes may change between two reads. Reading plain values from
// it is safe (a changed value is just another value); checking something and then relying
// on the check (a FlatBuffers verification, a length inside the payload) is not: verify a
// copy. verify_flatbuffer(const Message&) does so by itself. A Server copies the payloads
// of peers of other users before any handler sees them (ServerOptions::payload_copy).
// Thread-safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "ferry/wire.hpp"

namespace ferry {

// Identifies one connection of a server for its lifetime; never reused by that server.
using ConnectionId = std::uint64_t;

// Message types from kReservedTypes up are ferry's own (ferryd's subscribe/serve
// requests, ferry/bus.hpp); applications use 0 .. kReservedTypes - 1.
inline constexpr std::uint16_t kReservedTypes = 0xff00;

// What the text overloads of Client::send(), Client::request() and Request::reply() take:
// anything that is a string_view and not already bytes ("text", std::string,
// std::string_view). A braced {} still means no payload, as bytes.
template <class T>
concept TextLike = std::is_convertible_v<const T&, std::string_view> &&
    !std::is_convertible_v<const T&, std::span<const std::byte>>;

// A message type named once, with the payload it carries, for sender and receiver alike:
//
//   struct Quote { std::uint64_t id; double price; };
//   inline constexpr ferry::MessageType<7, Quote> kQuote;   // in a header both include
//   client.send(kQuote, Quote{7001, 10.625});               // bytes_of the value
//   server.on(kQuote, ...);   if (m.type == kQuote) ...     // it is its number, too
//   auto q = ferry::view_as(kQuote, m.payload);             // const Quote*, checked
//
// Payload void: any bytes (client.send(kLog, "text")).
template <std::uint16_t Id, class Payload = void>
struct MessageType {
  static_assert(Id < kReservedTypes, "message types from kReservedTypes up are ferry's own");
  static constexpr std::uint16_t id = Id;
  using payload_type = Payload;
  constexpr operator std::uint16_t() const noexcept { return Id; }  // NOLINT: by design
};

struct Message {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;         // wire::kFlagReply, wire::kFlagError
  std::uint32_t correlation = 0;  // non-zero on requests and replies
  std::span<const std::byte> payload;
  bool in_shared_memory = false;  // the payload is in the ring: the sender can still write it

  // A request expects a reply: it carries a correlation id and is not itself a reply.
  bool is_request() const noexcept { return correlation != 0 && (flags & wire::kFlagReply) == 0; }
  bool is_reply() const noexcept { return (flags & wire::kFlagReply) != 0; }
  bool is_error() const noexcept { return (flags & wire::kFlagError) != 0; }
  // Sent again after a server died before acknowledging it (wire::kFlagResent).
  bool is_resent() const noexcept { return (flags & wire::kFlagResent) != 0; }
  // The payload as characters (no copy).
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};  // NOLINT
  }
};

}  // namespace ferry
