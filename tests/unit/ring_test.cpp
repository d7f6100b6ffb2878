// SPDX-License-Identifier: Apache-2.0
// Ring edge cases, single-threaded: empty, full, the wrap, zero and maximum sizes,
// interleaved reserve/commit/peek/release, batches, and a consumer that detects garbage.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "ferry/crc32c.hpp"
#include "ferry/ring.hpp"
#include "ferry/unique_fd.hpp"
#include "ring/ring_layout.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::SharedRing;

RingConfig small_ring(std::uint32_t capacity = 4096, bool crc = true) {
  RingConfig c;
  c.capacity = capacity;
  c.crc = crc;
  return c;
}

std::vector<std::byte> bytes_of(std::size_t n, std::uint64_t seq) {
  std::vector<std::byte> v(n);
  test::fill_pattern(v, seq);
  return v;
}

detail::RingHeader* header_of(SharedRing& ring) {
  return static_cast<detail::RingHeader*>(ring.data());
}
std::byte* data_of(SharedRing& ring) {
  return static_cast<std::byte*>(ring.data()) + detail::kRingHeaderSize;
}

TEST(RingFormat, RejectsBadGeometry) {
  test::SharedBlock mem(ring_bytes(1u << 16));
  RingConfig c;
  c.capacity = 5000;
  auto r = ring_format(mem.data(), mem.size(), c);
  EXPECT_EQ(r.code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("power of two"), std::string::npos);
  c.capacity = 2048;
  EXPECT_EQ(ring_format(mem.data(), mem.size(), c).code(), Errc::invalid_argument);
  c.capacity = 1u << 16;
  c.max_payload = 1u << 15;
  r = ring_format(mem.data(), mem.size(), c);
  EXPECT_EQ(r.code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("max payload"), std::string::npos);
  c.max_payload = 0;
  EXPECT_EQ(ring_format(mem.data(), mem.size() - 1, c).code(), Errc::invalid_argument);
  EXPECT_TRUE(ring_format(mem.data(), mem.size(), c).ok());
  EXPECT_EQ(RingConsumer::attach(mem.data(), mem.size()).value().max_payload(), (1u << 16) / 4);
}

TEST(RingFormat, AttachRejectsForeignOrDamagedHeaders) {
  SharedRing ring(small_ring());
  auto* h = header_of(ring);
  h->ident.magic = 0;
  EXPECT_EQ(RingConsumer::attach(ring.data(), ring.size()).code(), Errc::corrupt);
  h->ident.magic = detail::kRingMagic;
  h->ident.version = 9;
  auto r = RingProducer::attach(ring.data(), ring.size());
  EXPECT_EQ(r.code(), Errc::bad_version);
  EXPECT_NE(r.error().message().find("version 9"), std::string::npos);
  h->ident.version = detail::kRingLayoutVersion;
  h->ident.capacity = 1u << 20;  // larger than the segment
  EXPECT_EQ(RingConsumer::attach(ring.data(), ring.size()).code(), Errc::corrupt);
  h->ident.capacity = 4096;
  EXPECT_EQ(RingConsumer::attach(ring.data(), 100).code(), Errc::invalid_argument);
}

TEST(Ring, EmptyRingWouldBlockAndTimesOut) {
  SharedRing ring(small_ring());
  auto c = ring.consumer();
  EXPECT_EQ(c.peek().code(), Errc::would_block);
  for (auto strategy : {WaitStrategy::spin, WaitStrategy::block, WaitStrategy::hybrid}) {
    WaitOptions w;
    w.strategy = strategy;
    w.spin_for = 100us;
    auto cw = ring.consumer(w);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(cw.peek(2ms).code(), Errc::timed_out) << to_string(strategy);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 2ms);
  }
}

// A wait that ends at its deadline while the peer is gone says so, whatever the strategy and
// however short the wait (a spinner looks at the hang-up only now and then while it spins).
TEST(Ring, AWaitThatTimesOutWithThePeerGoneSaysDisconnected) {
  SharedRing ring(small_ring());
  int pair[2] = {-1, -1};
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  const UniqueFd ours(pair[0]);
  ::close(pair[1]);  // the peer is gone
  for (auto strategy : {WaitStrategy::spin, WaitStrategy::block, WaitStrategy::hybrid}) {
    WaitOptions w;
    w.strategy = strategy;
    auto c = ring.consumer(w, RingWakeFds{ours.get(), ours.get(), ours.get(), true});
    for (auto timeout : {std::chrono::nanoseconds(1us), std::chrono::nanoseconds(2ms)}) {
      EXPECT_EQ(c.peek(timeout).code(), Errc::disconnected)
          << to_string(strategy) << ", " << timeout.count() << " ns";
    }
  }
}

TEST(Ring, RoundTripCarriesMetaAndSequence) {
  SharedRing ring(small_ring());
  auto p = ring.producer();
  auto c = ring.consumer();
  for (std::uint32_t i = 0; i < 5; ++i) {
    MessageMeta meta{static_cast<std::uint16_t>(100 + i), wire::kFlagReply, 7000 + i};
    ASSERT_TRUE(p.send(bytes_of(10 * i, i), meta).ok());
  }
  for (std::uint32_t i = 0; i < 5; ++i) {
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_EQ(v->header.type, 100 + i);
    EXPECT_EQ(v->header.flags, wire::kFlagReply);
    EXPECT_EQ(v->header.correlation, 7000 + i);
    EXPECT_EQ(v->header.seq, i);
    EXPECT_EQ(v->header.version, wire::kVersion);
    ASSERT_EQ(v->payload.size(), 10 * i);
    EXPECT_TRUE(test::check_pattern(v->payload, i));
    c.release();
  }
  EXPECT_EQ(c.peek().code(), Errc::would_block);
  const RingStats s = ring_stats(ring.data());
  EXPECT_EQ(s.records_sent, 5u);
  EXPECT_EQ(s.records_received, 5u);
  EXPECT_EQ(s.bytes_sent, 100u);
  EXPECT_EQ(s.used_bytes, 0u);
}

TEST(Ring, ZeroByteRecords) {
  SharedRing ring(small_ring());
  auto p = ring.producer();
  auto c = ring.consumer();
  // Many more zero-byte records than fit at once: each is a bare 24-byte header.
  for (std::uint64_t i = 0; i < 1000; ++i) {
    auto room = p.reserve(0);
    ASSERT_TRUE(room.ok());
    EXPECT_TRUE(room->empty());
    p.commit(0, {static_cast<std::uint16_t>(i)});
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_EQ(v->payload.size(), 0u);
    EXPECT_EQ(v->header.type, static_cast<std::uint16_t>(i));
    c.release();
  }
}

TEST(Ring, MaximumSizeRecordsAndTheLimit) {
  SharedRing ring(small_ring(8192));
  auto p = ring.producer();
  auto c = ring.consumer();
  const std::size_t max = p.max_payload();
  EXPECT_EQ(max, 2048u);
  auto too_big = p.reserve(max + 1);
  EXPECT_EQ(too_big.code(), Errc::too_large);
  EXPECT_NE(too_big.error().message().find("2048"), std::string::npos);
  EXPECT_NE(too_big.error().message().find("ring_capacity"), std::string::npos)
      << "the message names the setting that raises the limit";
  EXPECT_EQ(p.send(bytes_of(max + 1, 0)).code(), Errc::too_large);
  // Maximum-size records through many wraps.
  for (std::uint64_t i = 0; i < 50; ++i) {
    ASSERT_TRUE(p.send(bytes_of(max, i)).ok());
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << v.error().message();
    ASSERT_EQ(v->payload.size(), max);
    EXPECT_TRUE(test::check_pattern(v->payload, i));
    c.release();
  }
}

TEST(Ring, LargestPossiblePayloadFitsAfterAnyWrap) {
  RingConfig cfg = small_ring(4096);
  cfg.max_payload = 4096 / 2 - 32;
  SharedRing ring(cfg);
  auto p = ring.producer();
  auto c = ring.consumer();
  // Walk the write position through every 8-byte offset, then send the largest record.
  for (std::uint64_t shift = 0; shift < 4096 / 8; ++shift) {
    ASSERT_TRUE(p.send(bytes_of(0, 0)).ok());  // 24-byte record moves the tail by 24
    ASSERT_TRUE(c.peek().ok());
    c.release();
    ASSERT_TRUE(p.send(bytes_of(cfg.max_payload, shift)).ok()) << "shift " << shift;
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_TRUE(test::check_pattern(v->payload, shift));
    c.release();
  }
}

TEST(Ring, FullRingIsBackpressureNeverOverwrite) {
  SharedRing ring(small_ring(4096));
  auto p = ring.producer();
  auto c = ring.consumer();
  // 100-byte payloads make 128-byte records: exactly 32 fit in 4096 bytes.
  std::uint64_t sent = 0;
  while (p.send(bytes_of(100, sent)).ok()) ++sent;
  EXPECT_EQ(sent, 32u);
  EXPECT_EQ(p.send(bytes_of(100, sent)).code(), Errc::would_block);
  EXPECT_EQ(ring_stats(ring.data()).used_bytes, 4096u);
  auto t = p.reserve(100, 3ms);
  EXPECT_EQ(t.code(), Errc::timed_out);
  EXPECT_NE(t.error().message().find("ring full"), std::string::npos);
  EXPECT_EQ(ring_stats(ring.data()).full_waits, 1u);
  // The 3 ms it waited are counted as backpressure; the ring was seen full.
  EXPECT_GE(ring_stats(ring.data()).full_wait_ns, 3'000'000u);
  EXPECT_EQ(ring_stats(ring.data()).high_water_bytes, 4096u);
  // Freeing one record makes room for exactly one more; nothing was overwritten.
  ASSERT_TRUE(c.peek().ok());
  c.release();
  ASSERT_TRUE(p.send(bytes_of(100, sent)).ok());
  ++sent;
  EXPECT_EQ(p.send(bytes_of(100, sent)).code(), Errc::would_block);
  for (std::uint64_t i = 1; i < sent; ++i) {
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_TRUE(test::check_pattern(v->payload, i)) << i;
    c.release();
  }
  EXPECT_EQ(c.peek().code(), Errc::would_block);
}

TEST(Ring, ExactFitAtTheWrap) {
  SharedRing ring(small_ring(4096));
  auto p = ring.producer();
  auto c = ring.consumer();
  // 4000 bytes used, then a record of exactly the 96 bytes left (a 72-byte payload).
  for (int i = 0; i < 4; ++i)
    ASSERT_TRUE(p.send(bytes_of(1000 - 24, static_cast<std::uint64_t>(i))).ok());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.peek().ok());
    c.release();
  }
  ASSERT_TRUE(p.send(bytes_of(72, 4)).ok());  // ends exactly at the end of the ring
  EXPECT_EQ(header_of(ring)->producer.tail.load(std::memory_order_relaxed), 4096u);
  ASSERT_TRUE(p.send(bytes_of(8, 5)).ok());  // starts at offset 0, no padding
  EXPECT_EQ(header_of(ring)->producer.tail.load(std::memory_order_relaxed), 4096u + 32u);
  for (std::uint64_t i = 4; i < 6; ++i) {
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << v.error().message();
    EXPECT_TRUE(test::check_pattern(v->payload, i));
    c.release();
  }
}

TEST(Ring, PaddingRecordAndImplicitSkipAtTheWrap) {
  for (const std::uint64_t gap : {8u, 16u, 24u, 48u}) {
    SharedRing ring(small_ring(4096));
    auto p = ring.producer();
    auto c = ring.consumer();
    // Fill to 4096 - gap, consume it all, then send a record that does not fit the gap.
    const std::uint64_t used = 4096 - gap;
    std::uint64_t seq = 0;
    for (std::uint64_t left = used; left > 0; ++seq) {
      const std::uint64_t rec = std::min<std::uint64_t>(left, 1000);
      ASSERT_TRUE(p.send(bytes_of(rec - 24, seq)).ok());
      left -= rec;
      ASSERT_TRUE(c.peek().ok());
      c.release();
    }
    ASSERT_EQ(header_of(ring)->producer.tail.load(std::memory_order_relaxed), used);
    ASSERT_TRUE(p.send(bytes_of(100, seq)).ok());
    EXPECT_EQ(header_of(ring)->producer.tail.load(std::memory_order_relaxed), 4096u + 128u);
    if (gap >= 24) {
      const wire::Header pad = wire::load(data_of(ring) + used);
      EXPECT_EQ(pad.flags, wire::kFlagPadding);
      EXPECT_EQ(pad.length, gap - 24);
    }
    auto v = c.peek();
    ASSERT_TRUE(v.ok()) << "gap " << gap << ": " << v.error().message();
    EXPECT_EQ(v->payload.size(), 100u);
    EXPECT_TRUE(test::check_pattern(v->payload, seq));
    c.release();
    EXPECT_EQ(header_of(ring)->consumer.head.load(std::memory_order_relaxed), 4096u + 128u);
  }
}

TEST(Ring, InterleavedReserveCommitPeekRelease) {
  SharedRing ring(small_ring());
  auto p = ring.producer();
  auto c = ring.consumer();
  auto room = p.reserve(64);
  ASSERT_TRUE(room.ok());
  test::fill_pattern(*room, 0);
  EXPECT_EQ(c.peek().code(), Errc::would_block) << "reserved but uncommitted must be invisible";
  p.commit(40);  // commit fewer bytes than reserved
  auto room2 = p.reserve(16);
  ASSERT_TRUE(room2.ok());
  test::fill_pattern(*room2, 1);
  auto v = c.peek();  // the first is visible while the second is still being written
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->payload.size(), 40u);
  EXPECT_EQ(std::memcmp(v->payload.data(), bytes_of(64, 0).data(), 40), 0);
  auto again = c.peek();  // peeking twice returns the same record
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->header.seq, 0u);
  p.commit(16, {}, Publish::later);
  c.release();
  EXPECT_EQ(c.peek().code(), Errc::would_block) << "staged records wait for publish()";
  p.publish();
  v = c.peek();
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(test::check_pattern(v->payload, 1));
  c.release(Publish::later);
  // Records of 40 and 16 payload bytes take 64 and 40 bytes of ring.
  EXPECT_EQ(header_of(ring)->consumer.head.load(std::memory_order_relaxed), 64u)
      << "a deferred release is not published yet";
  c.publish();
  EXPECT_EQ(header_of(ring)->consumer.head.load(std::memory_order_relaxed), 64u + 40u);
}

TEST(Ring, AbandonedReservationLeavesNothing) {
  SharedRing ring(small_ring());
  auto p = ring.producer();
  auto c = ring.consumer();
  ASSERT_TRUE(p.reserve(500).ok());
  ASSERT_TRUE(p.send(bytes_of(3, 0)).ok());  // reserving again abandons the first
  auto v = c.peek();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->payload.size(), 3u);
  c.release();
  EXPECT_EQ(c.peek().code(), Errc::would_block);
}

TEST(Ring, BatchSendAndDrainPublishOnce) {
  SharedRing ring(small_ring(1u << 16));
  auto p = ring.producer();
  auto c = ring.consumer();
  std::vector<std::vector<std::byte>> msgs;
  std::vector<std::span<const std::byte>> spans;
  for (std::uint64_t i = 0; i < 100; ++i) msgs.push_back(bytes_of(i * 3, i));
  for (auto& m : msgs) spans.emplace_back(m);
  auto sent = p.send_batch(spans, {9});
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(*sent, 100u);
  std::uint64_t seen = 0;
  auto n = c.drain([&](const RecordView& v) {
    EXPECT_EQ(v.header.type, 9);
    EXPECT_TRUE(test::check_pattern(v.payload, seen));
    ++seen;
  });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 100u);
  EXPECT_EQ(ring_stats(ring.data()).records_received, 100u);
  // A batch larger than the ring stops at the first record that does not fit.
  std::vector<std::byte> big(10000);
  std::vector<std::span<const std::byte>> many(20, std::span<const std::byte>(big));
  sent = p.send_batch(many);
  ASSERT_TRUE(sent.ok());
  EXPECT_GE(*sent, 5u);  // 6 x 10024 bytes fit in 65536, 5 when the wrap needs padding
  EXPECT_LE(*sent, 6u);
  EXPECT_EQ(p.send(big).code(), Errc::would_block);
  EXPECT_EQ(ring_stats(ring.data()).records_sent, 100u + *sent);
}

TEST(Ring, RecvCopiesAndKeepsRecordsThatDoNotFit) {
  SharedRing ring(small_ring());
  auto p = ring.producer();
  auto c = ring.consumer();
  ASSERT_TRUE(p.send(bytes_of(300, 0), {5}).ok());
  std::vector<std::byte> small(100);
  auto r = c.recv(small);
  EXPECT_EQ(r.code(), Errc::too_large);
  EXPECT_NE(r.error().message().find("300"), std::string::npos);
  std::vector<std::byte> buf(512);
  r = c.recv(buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->length, 300u);
  EXPECT_EQ(r->type, 5);
  EXPECT_TRUE(test::check_pattern(std::span(buf).first(300), 0));
}

TEST(Ring, RandomSizesAgainstAModel) {
  SharedRing ring(small_ring(1u << 14));
  auto p = ring.producer();
  auto c = ring.consumer();
  std::mt19937_64 rng(42);
  std::deque<std::uint64_t> in_flight;
  std::uint64_t next = 0;
  for (int step = 0; step < 200000; ++step) {
    if (rng() % 2 == 0) {
      const std::size_t n = test::pattern_size(next, p.max_payload());
      auto room = p.reserve(n);
      if (room.code() == Errc::would_block) continue;
      ASSERT_TRUE(room.ok());
      test::fill_pattern(*room, next);
      p.commit(n, {}, rng() % 4 == 0 ? Publish::later : Publish::now);
      in_flight.push_back(next++);
    } else {
      if (rng() % 3 == 0) p.publish();
      auto v = c.peek();
      if (v.code() == Errc::would_block) continue;
      ASSERT_TRUE(v.ok()) << v.error().message();
      ASSERT_FALSE(in_flight.empty());
      const std::uint64_t seq = in_flight.front();
      in_flight.pop_front();
      ASSERT_EQ(v->header.seq, seq);
      ASSERT_EQ(v->payload.size(), test::pattern_size(seq, p.max_payload()));
      ASSERT_TRUE(test::check_pattern(v->payload, seq));
      c.release(rng() % 4 == 0 ? Publish::later : Publish::now);
    }
  }
  EXPECT_GT(next, 50000u);
}

// ------------------------------------------------------------------ a consumer that checks

// A commit with the payload's CRC given (a fan-out) signs the frame as a plain commit
// does, with CRCs on and off; a CRC that is not the payload's is a frame the consumer refuses.
TEST(Ring, ACommitWithTheCallersPayloadCrcIsSignedLikeAnyOther) {
  for (const bool crc : {true, false}) {
    SharedRing ring(small_ring(4096, crc));
    auto p = ring.producer();
    auto c = ring.consumer();
    for (const std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{200}}) {
      const std::vector<std::byte> payload = bytes_of(n, n);
      ASSERT_TRUE(p.send(payload, MessageMeta{5, 0, 9}).ok());
      auto room = p.reserve(n);
      ASSERT_TRUE(room.ok());
      std::copy(payload.begin(), payload.end(), room->begin());
      p.commit(n, MessageMeta{5, 0, 9}, crc32c(payload.data(), n), Crc32cJoin(n));
      auto plain = c.peek();
      ASSERT_TRUE(plain.ok()) << plain.error().message();
      const std::uint32_t plain_crc = plain->header.crc;
      c.release();
      auto joined = c.peek();
      ASSERT_TRUE(joined.ok()) << "crc " << crc << ", size " << n << ": "
                               << joined.error().message();
      EXPECT_TRUE(test::check_pattern(joined->payload, n));
      // The sequence differs (one more), so the CRCs do too, unless none is kept.
      if (crc) {
        EXPECT_NE(joined->header.crc, plain_crc);
      } else {
        EXPECT_EQ(joined->header.crc, 0u);
      }
      c.release();
    }
    if (!crc) continue;
    const std::vector<std::byte> payload = bytes_of(100, 1);
    auto room = p.reserve(100);
    ASSERT_TRUE(room.ok());
    std::copy(payload.begin(), payload.end(), room->begin());
    p.commit(100, {}, crc32c(payload.data(), 99), Crc32cJoin(100));
    EXPECT_EQ(c.peek().code(), Errc::bad_crc);
  }
}

TEST(RingCorruption, FlippedPayloadBitIsBadCrcAndSticky) {
  SharedRing ring(small_ring());
  auto p = ring.producer();
  auto c = ring.consumer();
  ASSERT_TRUE(p.send(bytes_of(50, 0)).ok());
  ASSERT_TRUE(p.send(bytes_of(50, 1)).ok());
  data_of(ring)[24 + 7] ^= std::byte{0x10};
  auto v = c.peek();
  EXPECT_EQ(v.code(), Errc::bad_crc);
  EXPECT_NE(v.error().message().find("crc32c mismatch"), std::string::npos);
  EXPECT_EQ(c.peek().code(), Errc::bad_crc) << "a bad frame stays an error";
  EXPECT_EQ(ring_stats(ring.data()).errors, 1u);
}

TEST(RingCorruption, WithoutCrcAFlippedPayloadIsDelivered) {
  SharedRing ring(small_ring(4096, false));
  auto p = ring.producer();
  auto c = ring.consumer();
  ASSERT_TRUE(p.send(bytes_of(50, 0)).ok());
  data_of(ring)[24 + 7] ^= std::byte{0x10};
  auto v = c.peek();
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(test::check_pattern(v->payload, 0));
}

TEST(RingCorruption, ImpossibleLengthsVersionsFlagsAndSequences) {
  struct Case {
    std::size_t offset;
    std::uint8_t value;
    Errc expected;
  };
  // Header bytes: length at 0..3, version at 6, flags at 7, seq at 8..15.
  for (const Case& k :
       {Case{3, 0x7f, Errc::bad_length}, Case{1, 0x08, Errc::bad_length},
        Case{6, 9, Errc::bad_version}, Case{7, 0x80, Errc::bad_flags},
        Case{7, wire::kFlagLz4 | wire::kFlagZstd, Errc::bad_flags}, Case{8, 5, Errc::bad_sequence},
        Case{7, wire::kFlagPadding, Errc::bad_flags}}) {
    SharedRing ring(small_ring(4096, false));
    auto p = ring.producer();
    auto c = ring.consumer();
    ASSERT_TRUE(p.send(bytes_of(50, 0)).ok());
    data_of(ring)[k.offset] = static_cast<std::byte>(k.value);
    EXPECT_EQ(c.peek().code(), k.expected) << "offset " << k.offset;
  }
}

TEST(RingCorruption, ImpossibleIndicesAreCorrupt) {
  SharedRing ring(small_ring());
  auto c = ring.consumer();
  header_of(ring)->producer.tail.store(4096 * 2, std::memory_order_relaxed);  // more than the ring
  EXPECT_EQ(c.peek().code(), Errc::corrupt);
  SharedRing ring2(small_ring());
  auto p2 = ring2.producer();
  auto c2 = ring2.consumer();
  header_of(ring2)->producer.tail.store(12, std::memory_order_relaxed);  // not 8-aligned
  EXPECT_EQ(c2.peek().code(), Errc::corrupt);
  header_of(ring2)->consumer.head.store(1u << 20, std::memory_order_relaxed);  // ahead of tail
  std::vector<std::byte> fill(1000);
  for (int i = 0; i < 4; ++i) (void)p2.send(fill);
  EXPECT_EQ(p2.send(fill).code(), Errc::corrupt);
}

// What a producer hands back after its consumer died: exactly the records the consumer had
// not released, oldest first, across padding at the wrap; and nothing from a tampered ring.
// The producer has the pages ahead of it mapped on its first pass over a fresh ring (in
// one system call at a time), so that the records that first touch them take no page
// fault each: the pages past its last record are already in its page table.
TEST(RingPopulate, TheFirstPassMapsThePagesAheadOfTheProducer) {
  constexpr std::uint32_t kCapacity = 1u << 20;
  SharedRing ring(small_ring(kCapacity));
  auto p = ring.producer();
  const std::vector<std::byte> payload = bytes_of(1000, 7);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(pagemap) << std::strerror(errno);
  // Whether the page at `at` is in this process's page table (bit 63 of its entry).
  const auto mapped = [&](const std::byte* at) {
    std::uint64_t entry = 0;
    const auto offset = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(at) / page * 8);
    EXPECT_EQ(::pread(pagemap.get(), &entry, sizeof entry, offset),
              static_cast<ssize_t>(sizeof entry));
    return (entry >> 63) != 0;
  };
  std::uint64_t written = 0;  // 1000-byte payloads take 1024 bytes with their header
  for (; written < 100 * 1024; written += 1024) {
    ASSERT_TRUE(p.send(payload, MessageMeta{1, 0, 0}).ok()) << written;
  }
  for (std::uint64_t ahead = page; ahead < 16 * 1024; ahead += page) {
    EXPECT_TRUE(mapped(data_of(ring) + written + ahead))
        << "the page " << ahead << " bytes past the producer's last record is not mapped";
  }
}

TEST(RingUnconsumed, ExactlyTheRecordsNotReleasedInOrder) {
  SharedRing ring(small_ring(4096));
  auto p = ring.producer();
  auto c = ring.consumer();
  auto collect = [&](std::vector<std::uint64_t>& seqs) {
    seqs.clear();
    return p.for_each_unconsumed([&](const RecordView& r) {
      EXPECT_TRUE(test::check_pattern(r.payload, r.header.type)) << r.header.type;
      seqs.push_back(r.header.type);
    });
  };
  std::vector<std::uint64_t> seqs;
  auto none = collect(seqs);
  ASSERT_TRUE(none.ok()) << none.error().message();
  EXPECT_EQ(*none, 0u);
  // 900-byte payloads: four records, the fifth wraps with a padding record before it.
  std::uint16_t next = 0;
  auto send = [&] {
    MessageMeta m;
    m.type = next;
    ASSERT_TRUE(p.send(bytes_of(900, next), m).ok());
    ++next;
  };
  for (int i = 0; i < 4; ++i) send();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.peek().ok());
    c.release();
  }
  send();
  send();
  // Staged but never published: the consumer never saw it, so it is unconsumed too.
  auto room = p.reserve(900);
  ASSERT_TRUE(room.ok());
  test::fill_pattern(*room, next);
  p.commit(900, MessageMeta{next++, 0, 0}, Publish::later);
  auto n = collect(seqs);
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{3, 4, 5, 6}));
  // A peeked but unreleased record is unconsumed: the consumer may have died handling it.
  ASSERT_TRUE(c.peek().ok());
  ASSERT_TRUE(collect(seqs).ok());
  EXPECT_EQ(seqs.front(), 3u);

  // The consumer's index is anyone's to write: out of range, unaligned, mid-record.
  auto& head = header_of(ring)->consumer.head;
  const std::uint64_t good = head.load(std::memory_order_relaxed);
  for (const std::uint64_t bad : {good + 8192, good - 4096 * 2, good + 4, good + 8}) {
    head.store(bad, std::memory_order_relaxed);
    auto r = collect(seqs);
    EXPECT_FALSE(r.ok()) << bad;
  }
  head.store(good, std::memory_order_relaxed);
  // A payload byte changed after commit fails its CRC.
  data_of(ring)[(good & 4095) + 24 + 10] ^= std::byte{1};
  EXPECT_EQ(collect(seqs).code(), Errc::bad_crc);
}

}  // namespace
}  // namespace ferry
