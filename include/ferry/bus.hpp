// SPDX-License-Identifier: Apache-2.0
// ferry/bus.hpp: the requests a client sends ferryd's bus to subscribe to and serve message
// types (Client::subscribe(), unsubscribe(), serve() send them; docs/ferryd.md). Each is a
// request of one of these reserved types whose payload is the one message type it is
// about, a little-endian u16 below kReservedTypes; ferryd acknowledges it with an empty
// reply, or refuses it with an error reply. A subscribe may carry a third byte of
// kSubscribe* flags.
// Thread-safety: constants.
#pragma once

#include <cstdint>

#include "ferry/message.hpp"

namespace ferry::bus {

inline constexpr std::uint16_t kSubscribe = kReservedTypes + 0;
inline constexpr std::uint16_t kUnsubscribe = kReservedTypes + 1;
inline constexpr std::uint16_t kServe = kReservedTypes + 2;
inline constexpr std::uint16_t kUnserve = kReservedTypes + 3;

// Subscribe flag: not this connection's own publications (ClientOptions::echo = false).
inline constexpr std::uint8_t kSubscribeNoEcho = 1u << 0;

}  // namespace ferry::bus
