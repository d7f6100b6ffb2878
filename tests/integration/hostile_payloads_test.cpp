// SPDX-License-Identifier: Apache-2.0
// A payload the sender changes while the server reads it. A FlatBuffer verified in the ring
// and then read there could have its offsets changed in between by the sender, and the
// reader would follow them anywhere (a crash, or other clients' data echoed back: every
// connection's segment is mapped in the server). verify_flatbuffer(const Message&) verifies
// and reads a private copy; a server copies the payloads of other users' peers before any
// handler sees them (ServerOptions::payload_copy).
//
// Here a thread flips the vtable offset of every FlatBuffer in a client's ring, in a loop,
// while the server's handler verifies and reads them. Frames carry no CRC (crc = false), so
// the server does not refuse a flipped frame before the handler sees it. Under ASan a read
// outside the copy is a failure; a read through a flipped offset in the ring would crash.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conn/conn_layout.hpp"
#include "ferry/client.hpp"
#include "ferry/flatbuffers.hpp"
#include "ferry/server.hpp"
#include "ring/ring_layout.hpp"
#include "sample_generated.h"
#include "support/endpoint_support.hpp"
#include "support/memfd_maps.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kTrade = 5;
constexpr std::size_t kRecord = 128;  // header 24 + payload 104: the ring holds whole records
constexpr std::size_t kPayload = kRecord - wire::kHeaderSize;

// A Trade padded to kPayload bytes (FlatBuffers ignores what follows the buffer).
std::vector<std::byte> trade_payload() {
  flatbuffers::FlatBufferBuilder b;
  const std::vector<sample::Fill> fills = {sample::Fill(100, 10.5)};
  b.Finish(sample::CreateTradeDirect(b, 7001, 10.625, "FRRY", &fills, nullptr));
  std::vector<std::byte> payload(kPayload);
  const auto bytes = flatbuffer_bytes(b);
  EXPECT_LE(bytes.size(), kPayload);
  std::memcpy(payload.data(), bytes.data(), std::min(bytes.size(), kPayload));
  return payload;
}

// What the handler found, counted on the server's thread.
struct Seen {
  std::atomic<int> handled{0};
  std::atomic<int> refused{0};    // failed verification: a flipped copy
  std::atomic<int> different{0};  // verified, other values: flipped to another valid layout
  std::atomic<int> copied{0};     // verified a copy (the payload was in the ring)
};

void read_trade(Request& r, Seen& seen) {
  auto v = verify_flatbuffer<sample::Trade>(r.message());
  ++seen.handled;
  if (!v) {
    ++seen.refused;
    return;
  }
  if (v->copied()) ++seen.copied;
  // A handler does some work between checking and reading; the compiler must not reuse
  // what the verifier loaded (a memory clobber), as calls in a real handler would force.
  for (int i = 0; i < 200; ++i) asm volatile("" ::: "memory");
  const sample::Trade& t = **v;
  // Every field, through every offset: a flipped offset would send these reads anywhere.
  const flatbuffers::String* symbol = t.symbol();
  const auto* fills = t.fills();
  const bool same = t.id() == 7001 && symbol != nullptr && symbol->str() == "FRRY" &&
                    fills != nullptr && fills->size() == 1 && fills->Get(0)->quantity() == 100;
  if (!same) ++seen.different;
}

TEST(HostilePayloads, AFlatBufferChangedWhileItIsReadNeverLeadsOutOfBounds) {
  test::ScopedSession session("payloads");
  test::Watchdog watchdog(120s, "flipping payloads");
  ServerOptions options;
  options.endpoint = "flip";
  options.crc = false;
  auto created = Server::create(options);
  ASSERT_TRUE(created) << created.error().message();
  Seen seen;
  test::ServerThread server(std::move(*created));
  server->on(kTrade, [&seen](Request& r) { read_trade(r, seen); });
  server->on(1, [](Request& r) { (void)r.reply(r.payload()); });
  server.start();

  ClientOptions co;
  co.endpoint = "flip";
  co.ring_capacity = 65536;
  auto client = Client::connect(co);
  ASSERT_TRUE(client) << client.error().message();
  std::byte* ring_data = nullptr;
  for (const test::Mapping& m : test::memfd_mappings("conn-" + std::to_string(client->id()))) {
    const detail::ConnIdent ident =
        std::launder(reinterpret_cast<detail::ConnHeader*>(m.start))->ident;  // NOLINT: layout
    if (ident.magic == detail::kConnMagic && ident.c2s_capacity == co.ring_capacity) {
      ring_data = m.start + ident.c2s_offset + detail::kRingHeaderSize;
    }
  }
  ASSERT_NE(ring_data, nullptr) << "no mapping of the client's connection segment";

  const std::vector<std::byte> payload = trade_payload();
  std::uint32_t root = 0;  // where the root table starts; its first 4 bytes: the vtable offset
  std::memcpy(&root, payload.data(), sizeof root);
  std::int32_t vtable = 0;
  std::memcpy(&vtable, payload.data() + root, sizeof vtable);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> flips{0};
  std::thread flipper([&] {
    // Word-sized atomic stores at the vtable offset of every record slot: the valid offset,
    // then one a gigabyte away, again and again.
    const std::int32_t wild = 0x40000000;
    while (!stop.load(std::memory_order_relaxed)) {
      for (std::size_t slot = 0; slot < co.ring_capacity / kRecord; ++slot) {
        auto* word = std::launder(reinterpret_cast<detail::ShmAtomic<std::int32_t>*>(  // NOLINT
            ring_data + slot * kRecord + wire::kHeaderSize + root));
        word->store((flips.fetch_add(1, std::memory_order_relaxed) & 1) != 0 ? wild : vtable,
                    std::memory_order_relaxed);
      }
    }
  });
  const std::uint64_t messages = test::scaled(50'000);
  for (std::uint64_t i = 0; i < messages; ++i) {
    ASSERT_TRUE(client->send(kTrade, payload)) << "message " << i;
  }
  auto alive = client->request(1, test::as_bytes("still alive"), 10s);
  stop = true;
  flipper.join();
  ASSERT_TRUE(alive) << alive.error().message();
  std::printf("%llu flips: %d handled, %d refused, %d read other values, %d verified as copies\n",
              static_cast<unsigned long long>(flips.load()), seen.handled.load(),
              seen.refused.load(), seen.different.load(), seen.copied.load());
  EXPECT_EQ(seen.handled.load(), static_cast<int>(messages));
  EXPECT_EQ(seen.copied.load() + seen.refused.load(), static_cast<int>(messages))
      << "a payload in the ring was verified in place";
  EXPECT_GT(seen.refused.load(), 0) << "the flips never landed: the test proves nothing";
}

// With payload_copy = always the handler's payload is already private: verify_flatbuffer
// verifies it in place, and what it verified cannot change.
TEST(HostilePayloads, CopiedPayloadsAreNotInSharedMemory) {
  test::ScopedSession session("copied");
  ServerOptions options;
  options.endpoint = "copied";
  options.payload_copy = PayloadCopy::always;
  auto created = Server::create(options);
  ASSERT_TRUE(created) << created.error().message();
  std::atomic<int> in_ring{0};
  std::atomic<int> copies{0};
  test::ServerThread server(std::move(*created));
  server->on(kTrade, [&](Request& r) {
    if (r.message().in_shared_memory) ++in_ring;
    auto v = verify_flatbuffer<sample::Trade>(r.message());
    if (v && v->copied()) ++copies;
    if (r.reply({}).code() == Errc::would_block) r.retry_later();
  });
  server.start();
  ClientOptions co;
  co.endpoint = "copied";
  auto client = Client::connect(co);
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_TRUE(client->request(kTrade, trade_payload(), 5s));
  EXPECT_EQ(in_ring.load(), 0) << "the handler saw the payload in the ring";
  EXPECT_EQ(copies.load(), 0) << "a private payload was copied again";
}

}  // namespace
}  // namespace ferry
