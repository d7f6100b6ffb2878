// SPDX-License-Identifier: Apache-2.0
// The ring between two threads of one process: what ThreadSanitizer checks. Random record
// sizes, every byte verified, each wait strategy, futex, eventfd and socket wake-ups, and a
// tiny ring so both sides keep hitting full and empty.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ostream>
#include <string>
#include <thread>

#include "ferry/ring.hpp"
#include "ferry/unique_fd.hpp"
#include "ring/ring_layout.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

// How a sleeper is woken: a futex, eventfds both sides share, or each side's end of a socket
// pair (blocking, which the consumer sleeps in a read of, or non-blocking, which it polls).
enum class Wake { futex, eventfd, socket, socket_nonblocking };

struct Params {
  WaitStrategy strategy;
  Wake wake;
};

std::string_view to_string(Wake wake) {
  switch (wake) {
    case Wake::futex: return "futex";
    case Wake::eventfd: return "eventfd";
    case Wake::socket: return "socket";
    case Wake::socket_nonblocking: return "socket_nonblocking";
  }
  return "?";
}

std::string name(const Params& p) {
  return std::string(to_string(p.strategy)) + "_" + std::string(to_string(p.wake));
}

// gtest prints a parameter it has no printer for as its bytes, padding included.
void PrintTo(const Params& p, std::ostream* os) {
  *os << name(p);
}

// The descriptors of one wake-up kind, for the producer's side and the consumer's.
struct WakeFds {
  explicit WakeFds(Wake wake) {
    if (wake == Wake::eventfd) {
      a.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      b.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      producer = consumer = RingWakeFds{a.get(), b.get()};
    } else if (wake != Wake::futex) {
      int pair[2] = {-1, -1};
      const int flags = wake == Wake::socket_nonblocking ? SOCK_NONBLOCK : 0;
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | flags, 0, pair) == 0) {
        a.reset(pair[0]);
        b.reset(pair[1]);
      }
      producer = RingWakeFds{a.get(), a.get(), a.get(), true};
      consumer = RingWakeFds{b.get(), b.get(), b.get(), true};
    }
  }
  bool ok(Wake wake) const { return wake == Wake::futex || (a && b); }
  UniqueFd a, b;
  RingWakeFds producer, consumer;
};

class RingThreads : public ::testing::TestWithParam<Params> {};

TEST_P(RingThreads, EveryRecordArrivesIntactAndInOrder) {
  const Params params = GetParam();
  RingConfig cfg;
  cfg.capacity = 8192;
  test::SharedRing ring(cfg);
  const WakeFds fds(params.wake);
  ASSERT_TRUE(fds.ok(params.wake));
  WaitOptions w;
  w.strategy = params.strategy;
  w.spin_for = 5us;
  auto p = ring.producer(w, fds.producer);
  auto c = ring.consumer(w, fds.consumer);
  const std::uint64_t count = test::scaled(200000);
  test::Watchdog dog(120s, "RingThreads." + std::string(to_string(params.strategy)));

  std::atomic<bool> producer_ok{true};
  std::thread producer([&] {
    for (std::uint64_t seq = 0; seq < count; ++seq) {
      const std::size_t n = test::pattern_size(seq, p.max_payload());
      auto room = p.reserve(n, kForever);
      if (!room) {
        producer_ok = false;
        return;
      }
      test::fill_pattern(*room, seq);
      // Every 7th record is staged and published with the next one: batches too.
      p.commit(n, {static_cast<std::uint16_t>(seq)}, seq % 7 == 3 ? Publish::later : Publish::now);
    }
    p.publish();
  });
  std::uint64_t bad = 0;
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    auto v = c.peek(kForever);
    ASSERT_TRUE(v.ok()) << v.error().message();
    if (v->header.seq != seq || v->header.type != static_cast<std::uint16_t>(seq) ||
        v->payload.size() != test::pattern_size(seq, p.max_payload()) ||
        !test::check_pattern(v->payload, seq)) {
      ++bad;
    }
    c.release(seq % 5 == 0 ? Publish::later : Publish::now);
  }
  c.publish();
  producer.join();
  EXPECT_TRUE(producer_ok);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(c.peek().code(), Errc::would_block);
}

INSTANTIATE_TEST_SUITE_P(Strategies, RingThreads,
                         ::testing::Values(Params{WaitStrategy::spin, Wake::futex},
                                           Params{WaitStrategy::block, Wake::futex},
                                           Params{WaitStrategy::hybrid, Wake::futex},
                                           Params{WaitStrategy::block, Wake::eventfd},
                                           Params{WaitStrategy::hybrid, Wake::eventfd},
                                           Params{WaitStrategy::block, Wake::socket},
                                           Params{WaitStrategy::hybrid, Wake::socket},
                                           Params{WaitStrategy::block, Wake::socket_nonblocking}),
                         [](const auto& param_info) { return name(param_info.param); });

TEST(RingThreadsWake, BlockedProducerIsWokenWhenSpaceFrees) {
  RingConfig cfg;
  cfg.capacity = 4096;
  test::SharedRing ring(cfg);
  WaitOptions w;
  w.strategy = WaitStrategy::block;
  auto p = ring.producer(w);
  auto c = ring.consumer(w);
  std::vector<std::byte> rec(1000);
  while (p.send(rec).ok()) {
  }
  test::Watchdog dog(30s, "blocked producer wake");
  std::thread t([&] {
    // Only once the producer announced its sleep must freeing space cost a wake-up call.
    const auto& space_wait = static_cast<detail::RingHeader*>(ring.data())->space_wait;
    ASSERT_TRUE(test::wait_for([&] {
      return space_wait.sleeping.load(std::memory_order_acquire) == 1;
    })) << "the producer never went to sleep";
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(c.peek().ok());
      c.release();
    }
  });
  EXPECT_TRUE(p.send(rec, {}, kForever).ok());
  t.join();
  EXPECT_GE(ring_stats(ring.data()).consumer_wakes, 1u);
}

// The socket's receive timeout as the consumer's sleeps left it, in ns (0: none).
std::int64_t receive_timeout_ns(int fd) {
  timeval tv{};
  socklen_t len = sizeof tv;
  EXPECT_EQ(::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
  return std::int64_t{tv.tv_sec} * 1'000'000'000 + std::int64_t{tv.tv_usec} * 1000;
}

// A consumer that sleeps in a read of its blocking socket bounds the read by the socket's
// SO_RCVTIMEO: never beyond the time its wait has left (whatever an earlier, longer wait set),
// none for a wait without end; and the read ends on a wake and when the peer goes.
TEST(RingThreadsWake, ASleepInASocketReadKeepsItsDeadlineAndSeesWakesAndHangUps) {
  test::SharedRing ring(RingConfig{});
  WakeFds fds(Wake::socket);
  ASSERT_TRUE(fds.ok(Wake::socket));
  WaitOptions w;
  w.strategy = WaitStrategy::block;
  auto p = ring.producer(w, fds.producer);
  auto c = ring.consumer(w, fds.consumer);
  const int sock = fds.consumer.data;
  test::Watchdog dog(60s, "socket sleeps");
  const auto& data_wait = static_cast<detail::RingHeader*>(ring.data())->data_wait;
  // Sends one record once the consumer announced its sleep (so that it is woken, not found).
  auto send_when_asleep = [&] {
    return std::thread([&] {
      ASSERT_TRUE(test::wait_for([&] {
        return data_wait.sleeping.load(std::memory_order_acquire) == 1;
      })) << "the consumer never went to sleep";
      ASSERT_TRUE(p.send(std::vector<std::byte>(8)).ok());
    });
  };

  for (const auto timeout : {300ms, 30ms, 15ms, 300ms, 100ms}) {
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(c.peek(timeout).code(), Errc::timed_out) << timeout.count() << " ms";
    EXPECT_GE(std::chrono::steady_clock::now() - t0, timeout);
    // (A wait this short polls instead: the read's limit is counted in the kernel's ticks.)
    if (timeout < 20ms) continue;
    EXPECT_LE(receive_timeout_ns(sock), std::chrono::nanoseconds(timeout).count())
        << "after a wait of " << timeout.count() << " ms";
  }
  for (const auto timeout : {std::chrono::nanoseconds(kForever), std::chrono::nanoseconds(10s)}) {
    std::thread t = send_when_asleep();
    EXPECT_TRUE(c.peek(timeout).ok());
    c.release();
    t.join();
    if (timeout == kForever)
      EXPECT_EQ(receive_timeout_ns(sock), 0);
    else
      EXPECT_LE(receive_timeout_ns(sock), std::chrono::nanoseconds(timeout).count());
  }
  EXPECT_GE(ring_stats(ring.data()).producer_wakes, 2u);  // each sleep was woken by a wake
  std::thread closer([&] {
    ASSERT_TRUE(test::wait_for([&] {
      return data_wait.sleeping.load(std::memory_order_acquire) == 1;
    })) << "the consumer never went to sleep";
    fds.a.reset();  // the producer's end: the peer is gone
  });
  EXPECT_EQ(c.peek(kForever).code(), Errc::disconnected);
  closer.join();
}

}  // namespace
}  // namespace ferry
