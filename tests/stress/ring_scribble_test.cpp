// SPDX-License-Identifier: Apache-2.0
// A hostile peer writing into a ring while its consumer reads it. A well-behaved producer
// thread writes records; a scribbler thread overwrites, at random moments, the header the
// consumer is about to read, payload bytes, random bytes, a padding record of its own, a
// copy of other records, and the producer's published index; the consumer (the test's
// thread) peeks and releases meanwhile. The consumer must never crash nor read outside the
// ring (it sits between PROT_NONE pages, and ASan, when built in, is told the slack before
// it is poisoned), and every record it returns must have passed its checks on the header
// it copied: a valid header with the expected sequence number in the ring's bounds and,
// with CRCs, the fields the producer wrote (a scribbled field whose CRC still matches is a
// one in 2^32 chance). Not necessarily the CRC it would write for the pattern: a scribble
// in the room it reserved, before it commits, is covered by the CRC it computes. A bad
// frame is an error, the same on every later peek. A payload that is not the pattern
// (scribbled before the commit, or after the check: it is a view into shared memory) is
// counted, not a failure.
//
// Every frame is a function of its sequence number and the ring (pattern payload, meta
// from the number), so a frame left from an earlier round on the same ring is the frame
// this round's producer would write there: the check above holds for those too.
//
// The scribbler's writes race with the consumer's reads on purpose, as a hostile process's
// would; ThreadSanitizer runs only the unit tests, not this one.
#include <gtest/gtest.h>
#include <sanitizer/asan_interface.h>  // ASAN_POISON_MEMORY_REGION: nothing without ASan
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ring.hpp"
#include "ferry/wire.hpp"
#include "ring/ring_layout.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

// A ring whose last byte is the last before a PROT_NONE page, with another such page
// before the page it starts in: a read past its end faults in any build, one before its
// header lands in that page's slack, which ASan is told is poisoned.
class GuardedRing {
 public:
  explicit GuardedRing(std::uint32_t capacity) : bytes_(ring_bytes(capacity)) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t span = (bytes_ + page - 1) / page * page;
    total_ = span + 2 * page;
    void* base = ::mmap(nullptr, total_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      std::perror("mmap");
      std::abort();
    }
    base_ = static_cast<std::byte*>(base);
    if (::mprotect(base_ + page, span, PROT_READ | PROT_WRITE) != 0) {
      std::perror("mprotect");
      std::abort();
    }
    slack_ = base_ + page;
    slack_size_ = span - bytes_;
    ring_ = slack_ + slack_size_;
    ASAN_POISON_MEMORY_REGION(slack_, slack_size_);
  }
  ~GuardedRing() {
    ASAN_UNPOISON_MEMORY_REGION(slack_, slack_size_);
    ::munmap(base_, total_);
  }
  GuardedRing(const GuardedRing&) = delete;
  GuardedRing& operator=(const GuardedRing&) = delete;

  std::byte* data() const { return ring_; }
  std::size_t size() const { return bytes_; }
  std::byte* records() const { return ring_ + detail::kRingHeaderSize; }
  detail::RingHeader& header() const { return *reinterpret_cast<detail::RingHeader*>(ring_); }

 private:
  std::size_t bytes_;
  std::size_t total_ = 0;
  std::byte* base_ = nullptr;
  std::byte* slack_ = nullptr;
  std::size_t slack_size_ = 0;
  std::byte* ring_ = nullptr;
};

// What the producer attaches to record `seq` besides its pattern payload.
MessageMeta meta_of(std::uint64_t seq) {
  constexpr std::array<std::uint8_t, 4> kFlags = {0, wire::kFlagReply, wire::kFlagResent,
                                                  wire::kFlagReply | wire::kFlagError};
  MessageMeta m;
  m.type = static_cast<std::uint16_t>(seq * 7919);
  m.flags = kFlags[seq % kFlags.size()];
  m.correlation = static_cast<std::uint32_t>(seq * 2654435761u);
  return m;
}

// The header the producer writes for record `seq` of a ring with CRCs, if nobody changed
// the payload in the room it reserved before it committed.
wire::Header genuine_header(std::uint64_t seq, std::size_t max_payload) {
  std::vector<std::byte> frame(wire::kHeaderSize + test::pattern_size(seq, max_payload));
  const std::span<std::byte> payload(frame.data() + wire::kHeaderSize,
                                     frame.size() - wire::kHeaderSize);
  test::fill_pattern(payload, seq);
  const MessageMeta meta = meta_of(seq);
  wire::Header h;
  h.length = static_cast<std::uint32_t>(payload.size());
  h.type = meta.type;
  h.flags = meta.flags;
  h.seq = seq;
  h.correlation = meta.correlation;
  wire::encode(h, payload, frame.data());
  return wire::load(frame.data());
}

// Whether the CRC-covered fields are the same (the CRC itself may differ, see above).
bool same_fields(const wire::Header& a, const wire::Header& b) {
  return a.length == b.length && a.type == b.type && a.version == b.version && a.flags == b.flags &&
         a.seq == b.seq && a.correlation == b.correlation;
}

struct Totals {
  std::uint64_t rounds = 0;
  std::uint64_t records = 0;
  std::uint64_t not_pattern = 0;  // payloads not the pattern when looked at
  std::uint64_t scribbles = 0;
  // The producer refused the consumer's index: the consumer had read past the producer's
  // real index into what a scribbled one published, and released it. Fair.
  std::uint64_t producer_errors = 0;
  std::map<std::string, std::uint64_t> errors;  // bad frames, by code
};

// Writes into the ring the way a hostile peer could, `actions` times at random moments,
// until done or `stop`. `producer_waits` says the producer cannot go on for now (the ring
// is full, or it has ended).
void scribble(GuardedRing& ring, std::uint64_t seed, int actions, const std::atomic<bool>& stop,
              const std::atomic<bool>& producer_waits, std::atomic<std::uint64_t>& done) {
  std::mt19937_64 rng(seed);
  detail::RingHeader& h = ring.header();
  const std::uint64_t capacity = h.ident.capacity;
  const std::uint64_t mask = capacity - 1;
  std::byte* records = ring.records();
  auto random_byte = [&] { return static_cast<std::byte>(rng()); };
  for (int a = 0; a < actions && !stop.load(std::memory_order_relaxed); ++a) {
    // Until the producer published a few more records (or cannot), then a random moment
    // more, so that writes land among records however the threads are scheduled.
    const std::uint64_t target = h.producer.records.load(std::memory_order_relaxed) + rng() % 8;
    while (h.producer.records.load(std::memory_order_relaxed) < target && !producer_waits.load()) {
      if (stop.load(std::memory_order_relaxed)) return;
      std::this_thread::yield();
    }
    for (std::uint64_t spin = rng() % 256; spin > 0; --spin) {
      if (stop.load(std::memory_order_relaxed)) return;
    }
    const std::uint64_t head = h.consumer.head.load(std::memory_order_relaxed);
    const std::uint64_t tail = h.producer.tail.load(std::memory_order_relaxed);
    const std::uint64_t pos = head & mask;
    const std::uint64_t to_end = capacity - pos;
    // Weighted: mostly the record about to be read; the index rarely, as every change of
    // it that the consumer sees ends the round.
    switch (rng() % 16) {
      case 0:  // a byte of the header the consumer reads next
      case 1:
      case 2:
      case 3:
        if (to_end >= wire::kHeaderSize) records[pos + rng() % wire::kHeaderSize] = random_byte();
        break;
      case 4:
      case 5: {  // a plausible field there: length, flags or sequence number
        if (to_end < wire::kHeaderSize) break;
        // Among them one whose record runs just past the end of the record space.
        const auto past_end = static_cast<std::uint32_t>(to_end - wire::kHeaderSize + 1);
        const std::array<std::uint32_t, 6> lengths = {
            0,        h.ident.max_payload, h.ident.max_payload + 1,
            past_end, past_end + 8,        static_cast<std::uint32_t>(rng())};
        const std::uint32_t length = lengths[rng() % lengths.size()];
        const std::uint64_t seq = h.consumer.records.load(std::memory_order_relaxed) + rng() % 3;
        switch (rng() % 3) {
          case 0: std::memcpy(records + pos, &length, 4); break;
          case 1: records[pos + 7] = random_byte(); break;
          default: std::memcpy(records + pos + 8, &seq, 8); break;
        }
        break;
      }
      case 6:  // a payload byte of the records not read yet
      case 7:
      case 8: records[(head + wire::kHeaderSize + rng() % 512) & mask] = random_byte(); break;
      case 9:  // anywhere
      case 10: records[rng() & mask] = random_byte(); break;
      case 11: {  // the producer's published index: ahead, behind, unaligned, anything
        const std::array<std::uint64_t, 6> tails = {tail + 8 * (1 + rng() % 64), tail - 8, head,
                                                    head + capacity + 8,         tail + 3, rng()};
        h.producer.tail.store(tails[rng() % tails.size()], std::memory_order_release);
        break;
      }
      case 12:
      case 13: {  // a padding record of our own where the next record is
        if (to_end < wire::kHeaderSize) break;
        wire::Header pad;
        pad.flags = wire::kFlagPadding;
        pad.length = static_cast<std::uint32_t>(to_end - wire::kHeaderSize);
        if (rng() % 2 == 0) pad.length += 8;  // one that runs past the end
        wire::encode(pad, {}, records + pos);
        break;
      }
      case 14: {  // a record that runs past the end, numbered as the consumer expects, and a
                  // whole ring published after it
        if (to_end < wire::kHeaderSize) break;
        const auto length = static_cast<std::uint32_t>(to_end - wire::kHeaderSize + 1);
        const std::uint64_t seq = h.consumer.records.load(std::memory_order_relaxed);
        std::memcpy(records + pos, &length, 4);
        std::memcpy(records + pos + 8, &seq, 8);
        h.producer.tail.store(head + capacity, std::memory_order_release);
        break;
      }
      default: {  // other records copied over the next one
        const std::uint64_t from = (rng() & mask) & ~std::uint64_t{7};
        const std::uint64_t n = std::min({capacity - from, to_end, std::uint64_t{256}});
        std::memmove(records + pos, records + from, n);
        break;
      }
    }
    done.fetch_add(1, std::memory_order_relaxed);
  }
}

// Checks a record the consumer returned as `expected_seq`: where it lies, and what the
// consumer must have checked on its copy of the header.
void check_record(const RecordView& v, std::uint64_t expected_seq, const GuardedRing& ring,
                  bool crc, Totals& totals) {
  const std::uint32_t max_payload = ring.header().ident.max_payload;
  const std::byte* begin = ring.records();
  const std::byte* end = begin + ring.header().ident.capacity;
  ASSERT_EQ(v.payload.size(), v.header.length);
  ASSERT_GE(v.payload.data(), begin + wire::kHeaderSize) << "payload before the record space";
  ASSERT_LE(v.payload.data() + v.payload.size(), end) << "payload past the record space";
  ASSERT_EQ((v.payload.data() - wire::kHeaderSize - begin) % 8, 0) << "a misaligned record";
  wire::Limits limits;
  limits.max_payload = max_payload;
  const auto valid = wire::validate(v.header, limits);
  ASSERT_TRUE(valid) << "returned a header that fails validation: " << valid.error().message();
  ASSERT_EQ(v.header.flags & wire::kFlagPadding, 0) << "returned a padding record";
  ASSERT_EQ(v.header.seq, expected_seq);
  if (crc) {
    ASSERT_TRUE(same_fields(v.header, genuine_header(expected_seq, max_payload)))
        << "record " << expected_seq << ": fields the producer never wrote passed the CRC "
        << "check (length " << v.header.length << ", type " << v.header.type << ", flags "
        << int{v.header.flags} << ", crc " << v.header.crc << ")";
  }
  if (v.payload.size() != test::pattern_size(expected_seq, max_payload) ||
      !test::check_pattern(v.payload, expected_seq)) {
    ++totals.not_pattern;
  }
}

// What one peek found: a record (checked and released), an empty ring, or a bad frame
// (counted; it must stay) or a failed check.
enum class Step { record, empty, bad };

Step consume_one(RingConsumer& c, std::uint64_t& seq, const GuardedRing& ring, bool crc,
                 std::mt19937_64& rng, Totals& totals) {
  auto v = c.peek();
  if (v) {
    check_record(*v, seq, ring, crc, totals);
    if (::testing::Test::HasFatalFailure()) return Step::bad;
    ++seq;
    ++totals.records;
    c.release(rng() % 4 == 0 ? Publish::later : Publish::now);
    return Step::record;
  }
  if (v.code() == Errc::would_block) {
    c.publish();
    return Step::empty;
  }
  ++totals.errors[std::string(to_string(v.code()))];
  EXPECT_EQ(c.peek().code(), v.code()) << "a bad frame must stay: " << v.error().message();
  return Step::bad;
}

void run_round(GuardedRing& ring, std::uint64_t seed, Totals& totals) {
  std::mt19937_64 rng(seed);
  RingConfig cfg;
  cfg.capacity = ring.header().ident.capacity;
  cfg.max_payload = ring.header().ident.max_payload;
  cfg.crc = rng() % 4 != 0;
  ASSERT_TRUE(ring_format(ring.data(), ring.size(), cfg));
  auto producer = RingProducer::attach(ring.data(), ring.size());
  auto consumer = RingConsumer::attach(ring.data(), ring.size());
  ASSERT_TRUE(producer && consumer);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> scribbled{0};
  std::atomic<bool> scribbler_done{false};
  std::atomic<std::uint64_t> producer_errors{0};
  std::atomic<bool> producer_waits{false};
  const int actions = 1 + static_cast<int>(rng() % 64);
  std::thread producing([&] {
    RingProducer& p = *producer;
    const std::size_t max = p.max_payload();
    for (std::uint64_t seq = 0; !stop.load(std::memory_order_relaxed);) {
      const std::size_t n = test::pattern_size(seq, max);
      auto room = p.reserve(n);
      producer_waits = !room;
      if (!room) {
        if (room.code() != Errc::would_block) {
          producer_errors.fetch_add(1);
          return;  // still waiting, for good
        }
        p.publish();  // staged records must be visible, or the consumer could never free room
        std::this_thread::yield();
        continue;
      }
      test::fill_pattern(*room, seq);
      p.commit(n, meta_of(seq), seq % 3 == 0 ? Publish::later : Publish::now);
      ++seq;
    }
  });
  std::thread scribbling([&, scribble_seed = rng()] {
    scribble(ring, scribble_seed, actions, stop, producer_waits, scribbled);
    scribbler_done = true;
  });

  // While the scribbler writes; then the producer stops and what is left is read alone.
  std::uint64_t seq = 0;
  Step step = Step::empty;
  while (!scribbler_done.load() && step != Step::bad) {
    step = consume_one(*consumer, seq, ring, cfg.crc, rng, totals);
    // Now and then a consumer that lags, so that much is published when a scribble lands.
    if (step == Step::empty || rng() % 64 == 0) std::this_thread::yield();
  }
  stop = true;
  producing.join();
  scribbling.join();
  if (step != Step::bad) {
    do {
      step = consume_one(*consumer, seq, ring, cfg.crc, rng, totals);
    } while (step == Step::record);
  }
  totals.scribbles += scribbled.load();
  totals.producer_errors += producer_errors.load();
  ++totals.rounds;
}

TEST(RingScribble, AConsumerReadingARingAnotherThreadScribblesOnStaysInsideAndChecksAll) {
  // Up to 2500 rounds, or as many as fit in 3 s but at least 50: three threads on a busy
  // 2-core machine wait for each other much longer, and it must not take minutes there.
  const std::uint64_t max_rounds = test::scaled(2500);
  const std::uint64_t min_rounds = test::scaled(50);
  const auto budget = std::chrono::duration<double>(3.0 * test::test_scale());
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  test::Watchdog dog(240s, "ring scribble test");
  // One ring per size, reused: what earlier rounds left in the record space is there to be
  // read by mistake.
  std::vector<std::unique_ptr<GuardedRing>> rings;
  for (const std::uint32_t capacity : {4096u, 8192u, 65536u}) {
    rings.push_back(std::make_unique<GuardedRing>(capacity));
    RingConfig cfg;
    cfg.capacity = capacity;
    // A quarter of the ring (the default) makes large records that wrap often and lengths
    // that run past the end yet pass as plausible; 700 makes many small records.
    cfg.max_payload = capacity == 8192 ? 700 : 0;
    ASSERT_TRUE(ring_format(rings.back()->data(), rings.back()->size(), cfg));
  }
  Totals totals;
  for (std::uint64_t round = 0;
       round < max_rounds &&
       (round < min_rounds || std::chrono::steady_clock::now() - start < budget);
       ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round << ", seed " << seed);
    ASSERT_NO_FATAL_FAILURE(run_round(*rings[round % rings.size()], seed + round, totals));
  }
  std::printf(
      "%llu rounds, %llu scribbles, %llu records checked (%llu not the pattern), "
      "bad frames:",
      static_cast<unsigned long long>(totals.rounds),
      static_cast<unsigned long long>(totals.scribbles),
      static_cast<unsigned long long>(totals.records),
      static_cast<unsigned long long>(totals.not_pattern));
  for (const auto& [code, n] : totals.errors) {
    std::printf(" %s %llu", code.c_str(), static_cast<unsigned long long>(n));
  }
  std::printf("; the producer refused the consumer's index %llu times\n",
              static_cast<unsigned long long>(totals.producer_errors));
  // The run did what it is for: records got through, and scribbles were caught.
  EXPECT_GT(totals.records, 0u);
  EXPECT_FALSE(totals.errors.empty());
}

}  // namespace
}  // namespace ferry
