// SPDX-License-Identifier: Apache-2.0
// The stat reader and the closed totals (src/stat/) against segments this test makes and
// writes itself, in this process (read_process_stat(0) finds them in /proc/self/fd as it
// finds a server's): a connection whose closing is half done, or that closes while an
// observer reads, is counted once; the closed totals take a closing connection's ring
// counters only up to what its lifetime allows; a descriptor that is not a server's sealed
// memfd (a FIFO, a plain file, an unsealed memfd) is skipped without blocking.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <future>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "conn/segment.hpp"
#include "control/unix_socket.hpp"
#include "ferry/server.hpp"
#include "ferry/stat.hpp"
#include "stat/closed_totals.hpp"
#include "stat/extras.hpp"
#include "stat/proc_fd.hpp"
#include "stat/stat_segment.hpp"
#include "support/endpoint_support.hpp"
#include "support/test_support.hpp"

// ThreadSanitizer: GCC says so with __SANITIZE_THREAD__, clang with __has_feature.
#if defined(__SANITIZE_THREAD__)
#define FERRY_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FERRY_TEST_TSAN 1
#endif
#endif
#ifndef FERRY_TEST_TSAN
#define FERRY_TEST_TSAN 0
#endif

namespace ferry {
namespace {

using namespace std::chrono_literals;
using detail::EndpointCounter;

constexpr std::string_view kSession = "stat-unit";
constexpr std::string_view kEndpoint = "fake";
constexpr std::int64_t kSecondNs = 1'000'000'000;

// A server's stat segment and connection segments, made and written by the test: the reader
// finds them in /proc/self/fd as it would find a server's.
class FakeEndpoint {
 public:
  explicit FakeEndpoint(std::uint32_t slots) {
    auto shm = detail::create_stat_segment(slots, kSession, kEndpoint);
    EXPECT_TRUE(shm) << shm.error().message();
    stat_ = std::move(*shm);
    auto view = detail::view_stat_segment(stat_.data(), stat_.size());
    EXPECT_TRUE(view) << view.error().message();
    view_ = *view;
  }

  detail::StatView& view() { return view_; }
  detail::StatHeader& header() { return *view_.header; }
  detail::ShmAtomic<std::uint64_t>& counter(EndpointCounter c) {
    return header().counters[static_cast<std::size_t>(c)];
  }

  // A live connection in `slot` that connected `age_ns` ago.
  detail::ConnView connect(std::uint64_t id, std::uint32_t slot, std::int64_t age_ns) {
    auto shm = detail::create_connection_segment(id, slot, 4096, 4096, false);
    EXPECT_TRUE(shm) << shm.error().message();
    auto view = detail::view_connection_segment(*shm, id, slot);
    EXPECT_TRUE(view) << view.error().message();
    view->header->ident.server_token = header().ident.server_token;
    detail::PeerEntry& who = view_.peers[slot];
    who.pid = static_cast<std::uint32_t>(::getpid());
    who.connected_unix_ns = detail::unix_now_ns() - age_ns;
    detail::copy_name(who.name, "fake-" + std::to_string(id));
    who.connection_id.store(id, std::memory_order_release);
    if (conns_.size() <= slot) conns_.resize(slot + 1);
    conns_[slot] = Conn{std::move(*shm), *view};
    return *view;
  }

  // The server's close of the connection in `slot`: its totals, then its descriptor.
  void close(std::uint32_t slot) {
    const detail::ConnView& v = conns_[slot].view;
    detail::retire_connection(view_, slot, ring_stats(v.c2s), ring_stats(v.s2c),
                              detail::unix_now_ns());
    conns_[slot] = Conn{};
  }

 private:
  struct Conn {
    SharedMemory segment;  // its descriptor stays open, as a server's does
    detail::ConnView view;
  };
  SharedMemory stat_;
  detail::StatView view_;
  std::vector<Conn> conns_;  // by slot
};

detail::RingHeader& ring(void* memory) {
  return *std::launder(static_cast<detail::RingHeader*>(memory));
}

EndpointStat read_fake() {
  auto all = read_process_stat(0);
  EXPECT_TRUE(all) << all.error().message();
  for (EndpointStat& e : *all) {
    if (e.session == kSession && e.endpoint == kEndpoint) return e;
  }
  ADD_FAILURE() << "the reader did not find the fake endpoint";
  return {};
}

// The server is in the middle of closing a connection (the generation is odd: it has added
// the connection's counters to the closed totals and not yet freed its peer entry). A
// reader must not take that moment for a settled one: it would count the connection twice,
// once live and once closed. It reads again until the server is done.
TEST(StatReader, AConnectionHalfwayClosedIsCountedOnce) {
  FakeEndpoint fake(4);
  const detail::ConnView c = fake.connect(1, 0, 10 * kSecondNs);
  ring(c.c2s).producer.full_waits.store(3, std::memory_order_relaxed);
  ring(c.s2c).consumer.wake_syscalls.store(5, std::memory_order_relaxed);
  EndpointStat before = read_fake();
  ASSERT_EQ(before.connections.size(), 1u);
  EXPECT_EQ(before.in.full_waits, 3u);
  EXPECT_EQ(before.out.consumer_wakes, 5u);

  // The server's close, stopped in the middle: generation odd, totals added, entry live.
  detail::stat_write_begin(fake.header());
  fake.counter(EndpointCounter::closed_in_full_waits).store(3, std::memory_order_relaxed);
  fake.counter(EndpointCounter::closed_out_consumer_wakes).store(5, std::memory_order_relaxed);
  // ... and it finishes 2 ms later, while the reader reads.
  std::thread finish([&] {
    std::this_thread::sleep_for(2ms);
    fake.view().peers[0].connection_id.store(0, std::memory_order_relaxed);
    detail::stat_write_end(fake.header());
  });
  const EndpointStat during = read_fake();
  finish.join();
  EXPECT_EQ(during.in.full_waits, 3u) << "counted live and closed at once";
  EXPECT_EQ(during.out.consumer_wakes, 5u) << "counted live and closed at once";
  EXPECT_TRUE(during.connections.empty());
}

// Connections close and others take their slots (new descriptors, often with the closed
// ones' numbers) while an observer reads. Every connection does exactly one full wait each
// way, so the totals, live plus closed, must equal the connections made before the reading
// or lie between that and those made by its end: more is a connection counted twice, less
// one lost.
TEST(StatReader, ReadersCountEachConnectionOnceWhileConnectionsCloseAndSlotsAreReused) {
#if FERRY_TEST_TSAN
  // The peer entries' fields are plain bytes, copied and then validated by the generation
  // (a seqlock): ThreadSanitizer cannot know that, and takes the copy for a race.
  GTEST_SKIP() << "a seqlock's reader races by design";
#endif
  constexpr std::uint32_t kSlots = 16;
  FakeEndpoint fake(kSlots);
  std::atomic<std::uint64_t> made{0};
  auto make = [&](std::uint64_t id, std::uint32_t slot) {
    const detail::ConnView c = fake.connect(id, slot, kSecondNs);
    ring(c.c2s).producer.full_waits.store(1, std::memory_order_relaxed);
    ring(c.s2c).producer.full_waits.store(1, std::memory_order_relaxed);
    made.fetch_add(1);
  };
  std::uint64_t next_id = 1;
  for (std::uint32_t slot = 0; slot < kSlots; ++slot) make(next_id++, slot);
  std::atomic<bool> done{false};
  std::thread server([&] {
    for (std::uint32_t slot = 0; !done.load(); slot = (slot + 1) % kSlots) {
      fake.close(slot);
      make(next_id++, slot);
      if (slot == 0) std::this_thread::yield();
    }
  });
  int readings = 0;
  std::uint64_t last = 0;
  // Until enough has happened on both sides, however slowly a busy machine lets them run.
  test::Watchdog dog(120s, "stat readers during connection churn");
  while (made.load() < 2000 || readings < 100) {
    const std::uint64_t before = made.load();
    const EndpointStat e = read_fake();
    const std::uint64_t after = made.load();
    ++readings;
    for (const DirectionTotals* t : {&e.in, &e.out}) {
      ASSERT_LE(t->full_waits, after) << "reading " << readings << ": counted twice";
      ASSERT_GE(t->full_waits, before) << "reading " << readings << ": lost one";
    }
    ASSERT_GE(e.in.full_waits, last) << "reading " << readings << ": went down";
    last = e.in.full_waits;
  }
  done.store(true);
  server.join();
}

// What a closing connection adds to the closed totals is bounded by its lifetime, whatever
// its client wrote into the rings, and the totals saturate rather than wrap.
TEST(StatReader, ClosedTotalsAreBoundedByTheLifetimeAndNeverWrap) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  FakeEndpoint fake(4);
  // Honest numbers pass as they are.
  const detail::ConnView honest = fake.connect(1, 0, kSecondNs);
  ring(honest.c2s).producer.full_waits.store(7, std::memory_order_relaxed);
  ring(honest.c2s).producer.full_wait_ns.store(300'000'000, std::memory_order_relaxed);
  ring(honest.s2c).consumer.wake_syscalls.store(9, std::memory_order_relaxed);
  fake.close(0);
  EXPECT_EQ(fake.counter(EndpointCounter::closed_in_full_waits).load(std::memory_order_relaxed),
            7u);
  EXPECT_EQ(fake.counter(EndpointCounter::closed_in_full_wait_ns).load(std::memory_order_relaxed),
            300'000'000u);
  EXPECT_EQ(
      fake.counter(EndpointCounter::closed_out_consumer_wakes).load(std::memory_order_relaxed), 9u);
  EXPECT_EQ(fake.counter(EndpointCounter::closed_generation).load(std::memory_order_relaxed), 2u);
  EXPECT_EQ(fake.view().peers[0].connection_id.load(std::memory_order_relaxed), 0u);

  // Absurd ones, from a connection that lived a second: at most a second, and a second's
  // worth of counts.
  const detail::ConnView absurd = fake.connect(2, 1, kSecondNs);
  for (void* r : {absurd.c2s, absurd.s2c}) {
    ring(r).producer.full_waits.store(kMax, std::memory_order_relaxed);
    ring(r).producer.full_wait_ns.store(std::uint64_t{1} << 63, std::memory_order_relaxed);
    ring(r).producer.wake_syscalls.store(kMax, std::memory_order_relaxed);
    ring(r).consumer.wake_syscalls.store(kMax, std::memory_order_relaxed);
    ring(r).consumer.errors.store(kMax, std::memory_order_relaxed);
  }
  fake.close(1);
  const std::uint64_t most_ns = 2 * kSecondNs + detail::kLifetimeSlackNs;  // a slow test
  for (const bool in : {true, false}) {
    for (std::size_t i = 0; i < detail::kClosedFields.size(); ++i) {
      const std::uint64_t v =
          detail::closed_counter(fake.header(), in, i).load(std::memory_order_relaxed);
      EXPECT_GE(v, kSecondNs / (detail::kClosedFields[i].is_time ? 1 : detail::kMinNsPerCount));
      EXPECT_LE(v, most_ns / (detail::kClosedFields[i].is_time ? 1 : detail::kMinNsPerCount) + 9);
    }
  }

  // Near the top, they stop there.
  fake.counter(EndpointCounter::closed_in_full_waits).store(kMax - 3, std::memory_order_relaxed);
  const detail::ConnView more = fake.connect(3, 2, kSecondNs);
  ring(more.c2s).producer.full_waits.store(kMax, std::memory_order_relaxed);
  fake.close(2);
  EXPECT_EQ(fake.counter(EndpointCounter::closed_in_full_waits).load(std::memory_order_relaxed),
            kMax);
}

// A descriptor number the server reused between the reader's listing and its open, for a
// FIFO nobody writes: open(O_RDONLY) on it would wait for a writer forever.
TEST(StatReader, AFifoBehindTheDescriptorDoesNotBlockTheReader) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("ferry-stat-fifo-" + std::to_string(::getpid()));
  std::filesystem::create_directory(dir);
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);
  const std::string path = "/proc/self/fd/" + std::to_string(reader.get());
  // As if the link had named this FIFO when it was listed (then the reader opens it), and
  // as if it had named a ferry segment (then it does not).
  for (const std::string& listed : {detail::read_link(path), std::string("/memfd:ferry:conn-1")}) {
    auto mapped = std::async(std::launch::async,
                             [&] { return detail::map_server_segment(path, listed, 4096); });
    if (mapped.wait_for(2s) != std::future_status::ready) {
      // Let it go: a writer appears.
      const UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
      mapped.wait();
      ADD_FAILURE() << "map_server_segment(" << path << ", \"" << listed
                    << "\") blocked in open() on a FIFO";
      continue;
    }
    auto m = mapped.get();
    EXPECT_FALSE(m) << "a FIFO was taken for a segment";
    if (!m) {
      EXPECT_NE(m.error().message().find(path), std::string::npos) << m.error().message();
    }
  }
  std::filesystem::remove_all(dir);
}

// Only a server's sealed memfds are mapped: not a plain file, not a memfd nobody sealed
// (whoever holds it could truncate it under the reader's mapping: SIGBUS).
TEST(StatReader, OnlySealedMemfdsAreMapped) {
  const UniqueFd unsealed(::memfd_create("ferry:conn-77", MFD_CLOEXEC));
  ASSERT_TRUE(unsealed);
  ASSERT_EQ(::ftruncate(unsealed.get(), 8192), 0);
  const std::string unsealed_path = "/proc/self/fd/" + std::to_string(unsealed.get());
  auto m = detail::map_server_segment(unsealed_path, detail::read_link(unsealed_path),
                                      detail::kConnHeaderSize);
  ASSERT_FALSE(m) << "an unsealed memfd was mapped";
  EXPECT_NE(m.error().message().find("seal"), std::string::npos) << m.error().message();

  const std::string file =
      std::filesystem::temp_directory_path() / ("ferry-stat-plain-" + std::to_string(::getpid()));
  const UniqueFd plain(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(plain);
  ASSERT_EQ(::ftruncate(plain.get(), 8192), 0);
  const std::string plain_path = "/proc/self/fd/" + std::to_string(plain.get());
  auto p = detail::map_server_segment(plain_path, detail::read_link(plain_path),
                                      detail::kConnHeaderSize);
  ::unlink(file.c_str());
  EXPECT_FALSE(p) << "a plain file was mapped";

  // A sealed one that is too small for what it claims to be.
  auto small = SharedMemory::create_anonymous("conn-78", 4096);
  ASSERT_TRUE(small);
  const std::string small_path = "/proc/self/fd/" + std::to_string(small->fd());
  auto s = detail::map_server_segment(small_path, detail::read_link(small_path), 2 * 4096);
  EXPECT_FALSE(s) << "a segment smaller than its header was mapped";

  // What a server makes is mapped, and its descriptor not kept.
  auto good = SharedMemory::create_anonymous("conn-79", 8192);
  ASSERT_TRUE(good);
  const std::string good_path = "/proc/self/fd/" + std::to_string(good->fd());
  auto g = detail::map_server_segment(good_path, detail::read_link(good_path), 8192);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->size(), 8192u);
  EXPECT_EQ(g->fd(), -1);
}

// The extras (Server::publish_metric): what a server publishes is read back from its stat
// segment with its labels, in the order published; the same series is the same value.
TEST(StatReader, PublishedValuesAreReadBackWithTheirLabels) {
  test::ScopedSession session("published");
  ServerOptions options;
  options.endpoint = "pub";
  options.handler_histogram = true;
  auto server = Server::create(options);
  ASSERT_TRUE(server) << server.error().message();
  auto orders = server->publish_metric(R"(orders_total{kind="limit",side="buy"})");
  auto depth = server->publish_metric("queue_depth");
  ASSERT_TRUE(orders) << orders.error().message();
  ASSERT_TRUE(depth) << depth.error().message();
  (*orders)->store(5, std::memory_order_relaxed);
  (*depth)->store(3, std::memory_order_relaxed);
  auto again = server->publish_metric(R"(orders_total{kind="limit",side="buy"})");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *orders);
  auto reordered = server->publish_metric(R"(orders_total{side="buy",kind="limit"})");
  ASSERT_TRUE(reordered);
  EXPECT_EQ(*reordered, *orders) << "the same series, its labels in another order";

  auto all = read_process_stat(0);
  ASSERT_TRUE(all) << all.error().message();
  ASSERT_EQ(all->size(), 1u);
  const EndpointStat& e = all->front();
  EXPECT_TRUE(e.handler_histogram);
  ASSERT_EQ(e.metrics.size(), 2u);
  EXPECT_EQ(e.metrics[0].series, "orders_total{kind=\"limit\",side=\"buy\"}");
  EXPECT_EQ(e.metrics[0].name, "orders_total");
  using Labels = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(e.metrics[0].labels, (Labels{{"kind", "limit"}, {"side", "buy"}}));
  EXPECT_EQ(e.metrics[0].value, 5u);
  EXPECT_TRUE(e.metrics[0].counter());
  EXPECT_EQ(e.metrics[1].name, "queue_depth");
  EXPECT_TRUE(e.metrics[1].labels.empty());
  EXPECT_EQ(e.metrics[1].value, 3u);
  EXPECT_FALSE(e.metrics[1].counter());
}

TEST(StatReader, SeriesThatPrometheusWouldNotTakeAreRefusedNamingTheRule) {
  test::ScopedSession session("badseries");
  auto server = Server::create();
  ASSERT_TRUE(server) << server.error().message();
  const std::string too_long(96, 'a');
  for (const std::string& bad :
       {std::string(), too_long, std::string("9lives"), std::string("a-b"), std::string("a{}"),
        std::string("a{b}"), std::string("a{b=c}"), std::string("a{b=\"c\""),
        std::string(R"(a{b=""})"), std::string(R"(a{b="c"}x)"), std::string(R"(a{b="c",b="d"})"),
        std::string("a{session=\"x\"}"), std::string("a{endpoint=\"x\"}"),
        std::string(R"(a{__name__="x"})"), std::string(R"(a{b="c\d"})"),
        std::string("a{b=\"c\nd\"}"), std::string("a b")}) {
    auto p = server->publish_metric(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.code(), Errc::invalid_argument) << bad;
    EXPECT_NE(p.error().message().find("NAME{LABEL=\"VALUE\",...}"), std::string::npos)
        << p.error().message();
  }
  EXPECT_TRUE(server->publish_metric(std::string(95, 'a')));
  EXPECT_TRUE(server->publish_metric("ns:sub_total{a=\"x y-z.1\",_b2=\"!#$%&'()*+,-./\"}"));
}

TEST(StatReader, AServerPublishesAtMostItsShareOfValues) {
  test::ScopedSession session("fullextras");
  auto server = Server::create();
  ASSERT_TRUE(server) << server.error().message();
  for (std::size_t i = 0; i < kPublishedMetrics; ++i) {
    ASSERT_TRUE(server->publish_metric(std::string(1, 'v').append(std::to_string(i)))) << i;
  }
  auto more = server->publish_metric("one_more");
  ASSERT_FALSE(more);
  EXPECT_EQ(more.code(), Errc::no_memory);
  EXPECT_TRUE(server->publish_metric("v7")) << "an existing series is not a new one";
}

// Observers take nothing in the extras on trust: a name without its NUL, one that does not
// parse, a repeat (also with its labels in another order), a count beyond the slots,
// another version.
TEST(StatReader, PublishedNamesThatDoNotParseAreLeftOut) {
  FakeEndpoint fake(2);
  detail::StatExtras& x = fake.header().extras;
  ASSERT_TRUE(detail::publish_value(x, "good_total"));
  ASSERT_TRUE(detail::publish_value(x, "second"));
  ASSERT_TRUE(detail::publish_value(x, "third"));
  ASSERT_TRUE(detail::publish_value(x, "fourth"));
  ASSERT_TRUE(detail::publish_value(x, R"(fifth{a="1",b="2"})"));
  ASSERT_TRUE(detail::publish_value(x, "sixth"));
  (*detail::publish_value(x, "good_total"))->store(9, std::memory_order_relaxed);
  std::memset(x.names[1], 'a', sizeof x.names[1]);       // no NUL
  std::memcpy(x.names[2], "bad name", 9);                // does not parse
  std::memcpy(x.names[3], "good_total", 11);             // a repeat
  std::memcpy(x.names[5], R"(fifth{b="2",a="1"})", 19);  // a repeat, its labels reordered
  x.published.store(1000, std::memory_order_release);    // beyond the slots
  EndpointStat e = read_fake();
  ASSERT_EQ(e.metrics.size(), 2u);
  EXPECT_EQ(e.metrics[0].series, "good_total");
  EXPECT_EQ(e.metrics[0].value, 9u);
  EXPECT_EQ(e.metrics[1].series, R"(fifth{a="1",b="2"})");
  EXPECT_FALSE(e.handler_histogram);

  x.latency[0].store(4, std::memory_order_relaxed);
  EXPECT_EQ(read_fake().handler_latency.count, 4u);
  x.version = detail::kStatExtrasVersion + 1;  // a newer server's: not read
  e = read_fake();
  EXPECT_TRUE(e.metrics.empty());
  EXPECT_EQ(e.handler_latency.count, 0u);
  x.version = 0;  // an older server's: none
  EXPECT_TRUE(read_fake().metrics.empty());
}

}  // namespace
}  // namespace ferry
