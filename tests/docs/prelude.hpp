// SPDX-License-Identifier: Apache-2.0
// tests/docs/prelude.hpp: what the C++ blocks of README.md and docs/ take as given, for
// tests/docs/cpp_blocks.py, which compiles each block (never links or runs it) as the body
// of a function after this header. A block names only what a reader's program would have
// at that point: the objects below stand for those (declared, never defined).
#pragma once

#include <ferry/client.hpp>
#include <ferry/codec.hpp>
#include <ferry/message.hpp>
#include <ferry/result.hpp>
#include <ferry/ring.hpp>
#include <ferry/server.hpp>
#include <ferry/shm.hpp>
#include <ferry/typed.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

using namespace std::chrono_literals;  // NOLINT

namespace doc {
extern std::vector<std::byte> bytes;          // a payload to send
extern std::span<const std::byte> payload;    // the same, as a view
extern ferry::CompressionOptions opts;        // the sender's compression settings
extern ferry::RingProducer& producer;         // one end of a ring ...
extern ferry::RingConsumer& consumer;         // ... and the other
extern ferry::Result<ferry::RecordView> rec;  // what consumer.peek() gave
extern std::vector<std::byte> plain;          // where a decompressed payload goes
extern ferry::Server& server;
extern ferry::Client& client;
constexpr std::uint16_t kQuote = 7;
constexpr std::uint16_t kTrade = 8;
}  // namespace doc
using namespace doc;  // NOLINT
