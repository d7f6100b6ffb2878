// SPDX-License-Identifier: Apache-2.0
// No lost wake-ups: over a million hand-offs between two processes with random pauses on
// both sides, so each side is sometimes spinning, sometimes asleep, sometimes just going
// to sleep when the other publishes. A lost wake-up hangs a ping-pong forever; the
// watchdog turns that into a failure. Also reports wake-up syscalls per message. Each
// hand-off pattern runs with every way of sleeping (futex, eventfd, socket), spinning first
// (hybrid) or not (block); ServerWakeups does the same through a Server and its Clients
// (the doorbell, the server's sleep word, the sockets).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <ostream>
#include <random>
#include <vector>

#include "ferry/ring.hpp"
#include "ring/ring_access.hpp"
#include "support/test_support.hpp"
#include "wait/waiting.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

void random_pause(std::mt19937_64& rng) {
  const std::uint64_t r = rng() % 64;
  if (r == 0) {
    timespec ts{0, static_cast<long>(rng() % 50'000)};  // sleep up to 50 us
    nanosleep(&ts, nullptr);
  } else if (r < 8) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(rng() % 5000);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
}

// How sleepers are woken: a futex in the ring, eventfds both processes share, or a
// SOCK_SEQPACKET socket pair of which each process holds its own end (as a Server and its
// Client do).
enum class Kind { futex, eventfd, socket };

struct Mode {
  WaitStrategy strategy;
  Kind kind;
};

class Wakeups : public ::testing::TestWithParam<Mode> {};

// The pinging side of a ping-pong: each message (1..64 bytes, its number as correlation id)
// is the last until its echo is back, with random pauses in between.
void ping_round_trips(RingProducer& out, RingConsumer& in, std::uint64_t round_trips,
                      std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::byte msg[64] = {};
  std::byte buf[64];
  for (std::uint64_t i = 0; i < round_trips; ++i) {
    ASSERT_TRUE(
        out.send(std::span(msg, 1 + i % 64), {0, 0, static_cast<std::uint32_t>(i)}, kForever).ok());
    random_pause(rng);
    auto h = in.recv(buf, kForever);
    ASSERT_TRUE(h.ok()) << h.error().message();
    ASSERT_EQ(h->correlation, static_cast<std::uint32_t>(i));
    ASSERT_EQ(h->length, 1 + i % 64);
  }
}

std::string mode_name(const Mode& m) {
  static constexpr const char* kNames[] = {"_futex", "_eventfd", "_socket"};
  return std::string(to_string(m.strategy)) + kNames[static_cast<int>(m.kind)];
}

// gtest prints a parameter it has no printer for as its bytes, padding included.
void PrintTo(const Mode& m, std::ostream* os) {
  *os << mode_name(m);
}

// The descriptors of one ring for the parent's and the child's side (the same eventfds for
// both, or each its own end of a socket pair); closed on destruction.
struct WakeSetup {
  RingWakeFds parent;
  RingWakeFds child;
  std::vector<int> fds;

  explicit WakeSetup(Kind kind) {
    if (kind == Kind::eventfd) {
      parent.data = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      parent.space = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      child = parent;
      fds = {parent.data, parent.space};
    } else if (kind == Kind::socket) {
      int pair[2] = {-1, -1};
      if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0) {
        parent = RingWakeFds{pair[0], pair[0], -1, true};
        child = RingWakeFds{pair[1], pair[1], -1, true};
        fds = {pair[0], pair[1]};
      }
    }
  }
  ~WakeSetup() {
    for (int fd : fds) close(fd);
  }
  WakeSetup(const WakeSetup&) = delete;
  WakeSetup& operator=(const WakeSetup&) = delete;
  bool ok(Kind kind) const { return kind == Kind::futex || (!fds.empty() && fds[0] >= 0); }
};

// Ping-pong: every message is the last one until its echo comes back.
TEST_P(Wakeups, PingPongHandOffsNeverHang) {
  const Mode mode = GetParam();
  RingConfig cfg;
  cfg.capacity = 4096;
  test::SharedRing ping(cfg);
  test::SharedRing pong(cfg);
  const WakeSetup ping_wakes(mode.kind);
  const WakeSetup pong_wakes(mode.kind);
  ASSERT_TRUE(ping_wakes.ok(mode.kind) && pong_wakes.ok(mode.kind)) << std::strerror(errno);
  WaitOptions w;
  w.strategy = mode.strategy;
  w.spin_for = 2us;                                         // short, so that sleeping is common
  const std::uint64_t round_trips = test::scaled(500'000);  // two hand-offs each

  const pid_t child = test::fork_child([&] {
    auto in = ping.consumer(w, ping_wakes.child);
    auto out = pong.producer(w, pong_wakes.child);
    std::mt19937_64 rng(2);
    std::byte buf[64];
    for (std::uint64_t i = 0; i < round_trips; ++i) {
      auto h = in.recv(buf, kForever);
      if (!h || h->correlation != static_cast<std::uint32_t>(i)) return 1;
      random_pause(rng);
      if (!out.send(std::span(buf, h->length), {0, 0, h->correlation}, kForever)) return 2;
    }
    return 0;
  });
  test::Watchdog dog(150s, "ping-pong " + mode_name(mode), [child] { kill(child, SIGKILL); });

  auto out = ping.producer(w, ping_wakes.parent);
  auto in = pong.consumer(w, pong_wakes.parent);
  ASSERT_NO_FATAL_FAILURE(ping_round_trips(out, in, round_trips, 1));
  EXPECT_EQ(test::wait_child(child), 0);
  const RingStats a = ring_stats(ping.data());
  const RingStats b = ring_stats(pong.data());
  const double syscalls = static_cast<double>(a.producer_wakes + a.consumer_wakes +
                                              b.producer_wakes + b.consumer_wakes);
  const double messages = static_cast<double>(2 * round_trips);
  std::printf("ping-pong %s: %.0f hand-offs, %.0f wake syscalls, %.3f syscalls/message\n",
              mode_name(mode).c_str(), messages, syscalls, syscalls / messages);
  RecordProperty("syscalls_per_message", std::to_string(syscalls / messages));
}

// Streaming through a small ring: the producer also sleeps on a full ring, so wake-ups
// run both ways; batching keeps the syscalls far below one per message.
TEST_P(Wakeups, StreamHandOffsNeverHang) {
  const Mode mode = GetParam();
  RingConfig cfg;
  cfg.capacity = 8192;
  test::SharedRing ring(cfg);
  const WakeSetup wakes(mode.kind);
  ASSERT_TRUE(wakes.ok(mode.kind)) << std::strerror(errno);
  WaitOptions w;
  w.strategy = mode.strategy;
  w.spin_for = 2us;
  const std::uint64_t count = test::scaled(1'000'000);

  const pid_t child = test::fork_child([&] {
    auto p = ring.producer(w, wakes.child);
    std::mt19937_64 rng(3);
    std::byte msg[128] = {};
    for (std::uint64_t i = 0; i < count; ++i) {
      if (!p.send(std::span(msg, i % 128), {0, 0, static_cast<std::uint32_t>(i)}, kForever))
        return 1;
      if (i % 16 == 0) random_pause(rng);
    }
    return 0;
  });
  test::Watchdog dog(150s, "stream " + mode_name(mode), [child] { kill(child, SIGKILL); });

  auto c = ring.consumer(w, wakes.parent);
  std::mt19937_64 rng(4);
  std::byte buf[128];
  for (std::uint64_t i = 0; i < count; ++i) {
    auto h = c.recv(buf, kForever);
    ASSERT_TRUE(h.ok()) << h.error().message();
    ASSERT_EQ(h->correlation, static_cast<std::uint32_t>(i));
    if (i % 16 == 0) random_pause(rng);
  }
  EXPECT_EQ(test::wait_child(child), 0);
  const RingStats s = ring_stats(ring.data());
  const double syscalls = static_cast<double>(s.producer_wakes + s.consumer_wakes);
  std::printf("stream %s: %llu messages, %.0f wake syscalls, %.4f syscalls/message\n",
              mode_name(mode).c_str(), static_cast<unsigned long long>(count), syscalls,
              syscalls / static_cast<double>(count));
  RecordProperty("syscalls_per_message", std::to_string(syscalls / static_cast<double>(count)));
}

// The server's side of a connection (src/wait/waiting.hpp: the server's sleep word): the
// client publishes, sets its doorbell bit and, if the server announced a sleep it has not
// woken yet, sends a wake on its socket; the server looks at the ring only when it
// collects the bit or gets the wake (never by polling the ring), so a lost wake-up is a
// hang. Both sides block (no spinning), with random pauses, so the server is often just
// announcing its sleep when the client publishes.
TEST(ServerWakeWord, PingPongThroughTheDoorbellNeverHangs) {
  RingConfig cfg;
  cfg.capacity = 4096;
  test::SharedRing requests(cfg);
  test::SharedRing replies(cfg);
  test::SharedBlock words(4096);  // the doorbell word and the server's sleep word
  auto* bell = new (words.data()) detail::ShmAtomic<std::uint64_t>();
  auto* state =
      new (static_cast<std::byte*>(words.data()) + 128) detail::ShmAtomic<std::uint64_t>();
  int pair[2] = {-1, -1};
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0) << std::strerror(errno);
  WaitOptions w;
  w.strategy = WaitStrategy::block;
  const std::uint64_t round_trips = test::scaled(300'000);

  const pid_t server = test::fork_child([&] {
    auto in = requests.consumer(w);
    auto out = replies.producer(w, RingWakeFds{pair[1], pair[1], -1, true});
    std::mt19937_64 rng(6);
    std::uint64_t epoch = 0;
    std::byte buf[64];
    for (std::uint64_t i = 0; i < round_trips;) {
      bool look = bell->exchange(0, std::memory_order_acq_rel) != 0;
      if (!look) {
        detail::announce_server_sleep(*state, epoch);
        if (bell->load(std::memory_order_relaxed) == 0) {
          pollfd pfd{pair[1], POLLIN, 0};
          if (poll(&pfd, 1, 20'000) != 1) return 3;  // 20 s without a wake: lost
          if (!detail::drain_wakes(pair[1])) return 4;
          look = true;
        }
        detail::end_server_sleep(*state, epoch);
      }
      if (!look) continue;
      for (;;) {
        auto h = in.recv(buf);
        if (!h) break;
        if (h->correlation != static_cast<std::uint32_t>(i)) return 1;
        random_pause(rng);
        if (!out.send(std::span(buf, h->length), {0, 0, h->correlation}, kForever)) return 2;
        ++i;
      }
    }
    return 0;
  });
  test::Watchdog dog(150s, "server wake word", [server] { kill(server, SIGKILL); });

  auto out = requests.producer(w);
  detail::Doorbell d;
  d.word = bell;
  d.bit = 1;
  d.server_state = state;
  d.socket = pair[0];
  detail::RingAccess::set_doorbell(out, d);
  auto in = replies.consumer(w, RingWakeFds{pair[0], pair[0], -1, true});
  ASSERT_NO_FATAL_FAILURE(ping_round_trips(out, in, round_trips, 5));
  EXPECT_EQ(test::wait_child(server), 0);
  const RingStats r = ring_stats(requests.data());
  std::printf("server wake word: %llu round trips, %llu wakes of the server (%.3f a request)\n",
              static_cast<unsigned long long>(round_trips),
              static_cast<unsigned long long>(r.producer_wakes),
              static_cast<double>(r.producer_wakes) / static_cast<double>(round_trips));
  close(pair[0]);
  close(pair[1]);
}

INSTANTIATE_TEST_SUITE_P(Modes, Wakeups,
                         ::testing::Values(Mode{WaitStrategy::hybrid, Kind::futex},
                                           Mode{WaitStrategy::block, Kind::futex},
                                           Mode{WaitStrategy::hybrid, Kind::eventfd},
                                           Mode{WaitStrategy::block, Kind::eventfd},
                                           Mode{WaitStrategy::hybrid, Kind::socket},
                                           Mode{WaitStrategy::block, Kind::socket}),
                         [](const auto& param_info) { return mode_name(param_info.param); });

}  // namespace
}  // namespace ferry
