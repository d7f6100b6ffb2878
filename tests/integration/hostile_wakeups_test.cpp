// SPDX-License-Identifier: Apache-2.0
// Hostile clients against the wake-up plumbing (docs/connection_format.md, "Waking"): the
// server runs in a child process, so every descriptor and mapping of this test process is
// a client's, and a hostile client may do with them whatever a process can:
//
//   - make every descriptor it received blocking, fill every eventfd to the brim, and
//     announce in its own rings that it sleeps, so that the server's next wake-up of it
//     would block if the server wrote to something the client controls;
//   - clear every word of the shared doorbell it can write, while the server is driven by
//     run(), by run_once() with a long timeout, or by the application's own poll() on fd().
//
// In each case a well-behaved client must keep round-tripping, never waiting more than the
// documented bound (100 ms) plus slack for scheduling on a busy machine.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <thread>

#include "conn/conn_layout.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ring/ring_layout.hpp"
#include "support/endpoint_support.hpp"
#include "support/memfd_maps.hpp"
#include "support/server_child.hpp"
#include "support/steady_client.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::as_bytes;

constexpr std::uint16_t kEcho = 1;       // replies with the payload
constexpr std::uint16_t kPushLater = 2;  // one-way: 300 ms later the server pushes to the sender
constexpr std::uint16_t kPushed = 3;
constexpr std::uint16_t kCount = 4;  // one-way, ignored
// What the well-behaved client may wait for one reply: the 100 ms bound plus scheduling.
constexpr std::int64_t kBoundMs = 250;

enum class Loop { run, run_once_long, own_poll };

const char* loop_name(Loop loop) {
  switch (loop) {
    case Loop::run: return "run()";
    case Loop::run_once_long: return "run_once(10 s)";
    case Loop::own_poll: return "the application's poll() on fd()";
  }
  return "?";
}

// The server, in a child process, driven as `loop` says, until killed.
int serve(const std::string& endpoint, Loop loop) {
  ServerOptions options;
  options.endpoint = endpoint;
  auto created = Server::create(options);
  if (!created) return 2;
  Server& server = *created;
  server.on(kEcho, [](Request& r) {
    if (r.reply(r.payload()).code() == Errc::would_block) r.retry_later();
  });
  server.on(kCount, [](Request&) {});
  std::map<ConnectionId, std::chrono::steady_clock::time_point> push_at;
  server.on(kPushLater, [&](Request& r) {
    auto [it, fresh] =
        push_at.try_emplace(r.connection(), std::chrono::steady_clock::now() + 300ms);
    if (std::chrono::steady_clock::now() < it->second) {
      r.retry_later();  // held: looked at again every millisecond or so
      return;
    }
    push_at.erase(it);
    (void)server.send(r.connection(), kPushed, as_bytes("pushed"));
  });
  for (;;) {
    switch (loop) {
      case Loop::run:
        if (!server.run()) return 3;
        break;
      case Loop::run_once_long:
        if (!server.run_once(10s)) return 3;
        break;
      case Loop::own_poll:
        if (!server.run_once(0ns)) return 3;
        if (server.prepare_wait()) {
          pollfd p{server.fd(), POLLIN, 0};
          (void)::poll(&p, 1, -1);
        }
        break;
    }
  }
}

// This process's open descriptors and what they are ("anon_inode:[eventfd]", "socket:[N]").
std::map<int, std::string> open_fds() {
  std::map<int, std::string> fds;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (!ec) fds[std::stoi(entry.path().filename().string())] = target.string();
  }
  return fds;
}

// The rings of connection `id` as its client maps them.
struct Rings {
  detail::RingHeader* c2s = nullptr;
  detail::RingHeader* s2c = nullptr;
};
std::optional<Rings> rings_of(ConnectionId id) {
  for (const test::Mapping& m : test::memfd_mappings("conn-" + std::to_string(id))) {
    if (m.size < detail::kConnHeaderSize) continue;
    const detail::ConnIdent ident =
        std::launder(reinterpret_cast<detail::ConnHeader*>(m.start))->ident;  // NOLINT: layout
    if (ident.magic != detail::kConnMagic || ident.connection_id != id ||
        ident.s2c_offset + ring_bytes(ident.s2c_capacity) > m.size) {
      continue;
    }
    Rings r;
    r.c2s =
        std::launder(reinterpret_cast<detail::RingHeader*>(m.start + ident.c2s_offset));  // NOLINT
    r.s2c =
        std::launder(reinterpret_cast<detail::RingHeader*>(m.start + ident.s2c_offset));  // NOLINT
    return r;
  }
  return std::nullopt;
}

// "I sleep, wake me for anything": what a waiter announces, kept up by a hostile client.
void announce_sleeping(detail::WaitBlock& wb) {
  wb.want.store(0, std::memory_order_relaxed);
  wb.sleeping.store(1, std::memory_order_release);
}

// A client makes every descriptor it holds blocking, fills every eventfd, announces that it
// sleeps on both of its rings (so the server wakes it at its next push, which it has asked
// for), and keeps it that way. The server must neither block on it nor let it hold up
// anyone else: before the wake-up plumbing was redesigned, the server's write() to the
// client's full, blocking data eventfd hung it, and honest clients' write() to the server's
// own eventfd (shared with every client) hung them.
TEST(HostileWakeups, AClientCannotBlockTheServerOrOthersThroughDescriptorsItHolds) {
  test::ScopedSession session("descriptors");
  test::ServerChild server("fds", [] { return serve("fds", Loop::run); });
  ASSERT_TRUE(server.ready());
  test::Watchdog watchdog(60s, "descriptor attack");
  test::SteadyClient steady("fds", kEcho);
  ASSERT_FALSE(steady.failed()) << steady.first_error();

  const auto before = open_fds();
  ClientOptions options;
  options.endpoint = "fds";
  options.name = "hostile";
  auto hostile = Client::connect(options);
  ASSERT_TRUE(hostile) << hostile.error().message();
  // The server pushes to it 300 ms from now; meanwhile it sets its trap.
  ASSERT_TRUE(hostile->send(kPushLater, as_bytes("push me")));
  int eventfds = 0;
  int sockets = 0;
  for (const auto& [fd, what] : open_fds()) {
    if (auto it = before.find(fd); it != before.end() && it->second == what) continue;
    if (what == "anon_inode:[eventfd]") {
      const std::uint64_t brim = 0xfffffffffffffffe;
      [[maybe_unused]] const ssize_t n = ::write(fd, &brim, sizeof brim);
      ++eventfds;
    } else if (what.starts_with("socket:")) {
      ++sockets;
    } else {
      continue;
    }
    const int flags = ::fcntl(fd, F_GETFL);
    ASSERT_EQ(::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK), 0) << std::strerror(errno);
  }
  EXPECT_EQ(sockets, 1) << "the client should hold one socket";
  auto rings = rings_of(hostile->id());
  ASSERT_TRUE(rings);
  std::atomic<bool> stop{false};
  std::thread trap([&] {
    while (!stop.load()) {
      announce_sleeping(rings->s2c->data_wait);   // wake me when you push
      announce_sleeping(rings->c2s->space_wait);  // wake me when you free room
      std::this_thread::sleep_for(200us);
    }
  });
  // 1.5 s of it, and on a slow machine until the steady client made its round trips.
  std::this_thread::sleep_for(1500ms);
  test::wait_for([&] { return steady.round_trips() >= 100 || steady.failed(); });
  stop = true;
  trap.join();
  std::printf(
      "attacked %d eventfds and %d socket: %d honest round trips, longest pause %lld ms (%lld ms "
      "beyond the machine's own)\n",
      eventfds, sockets, steady.round_trips(), static_cast<long long>(steady.longest_pause_ms()),
      static_cast<long long>(steady.longest_unexplained_pause_ms()));
  test::expect_steady(steady, 100, kBoundMs);
}

// Every word of the doorbell a client can write, cleared again and again: the server's own
// wake-up state must not be among them, and a client whose doorbell bit is cleared is found
// within 100 ms however the server's loop is driven.
class DoorbellClearing : public ::testing::TestWithParam<Loop> {};

TEST_P(DoorbellClearing, DelaysOthersAtMostTheBound) {
  test::ScopedSession session("doorbell");
  const Loop loop = GetParam();
  test::ServerChild server("bell", [loop] { return serve("bell", loop); });
  ASSERT_TRUE(server.ready());
  test::Watchdog watchdog(60s, std::string("doorbell clearing under ") + loop_name(GetParam()));
  ClientOptions options;
  options.endpoint = "bell";
  options.name = "hostile";
  auto hostile = Client::connect(options);
  ASSERT_TRUE(hostile) << hostile.error().message();
  // Whatever the server tells its clients about its sleep, they may read but not write.
  for (const test::Mapping& m : test::memfd_mappings("wake")) {
    EXPECT_FALSE(m.writable) << "the server's wake-up state is mapped writable";
    EXPECT_NE(::mprotect(m.start, m.size, PROT_READ | PROT_WRITE), 0)
        << "a client could make the server's wake-up state writable";
  }
  std::vector<test::Mapping> bells = test::memfd_mappings("doorbell");
  ASSERT_FALSE(bells.empty());
  test::SteadyClient steady("bell", kEcho);
  ASSERT_FALSE(steady.failed()) << steady.first_error();
  std::atomic<bool> stop{false};
  // Bursts of one-way messages keep the server awake much of the time, so that cleared bits
  // are also met while it works (not only while it sleeps, when every producer wakes it).
  std::thread busy([&] {
    options.name = "busy";
    auto client = Client::connect(options);
    if (!client) return;
    while (!stop.load()) {
      for (int i = 0; i < 64; ++i) (void)client->send(kCount, as_bytes("busy"));
      std::this_thread::sleep_for(200us);
    }
  });
  std::uint64_t clears = 0;
  std::thread clearing([&] {
    while (!stop.load()) {
      for (const test::Mapping& m : bells) {
        if (!m.writable) continue;
        // Everything after the ident: header fields and the bitmap, as atomic words.
        auto* words = std::launder(reinterpret_cast<detail::ShmAtomic<std::uint64_t>*>(  // NOLINT
            m.start + detail::kRingBlock));
        for (std::size_t w = 0; w < (m.size - detail::kRingBlock) / 8; ++w) {
          words[w].store(0, std::memory_order_relaxed);
        }
      }
      ++clears;
      std::this_thread::yield();
    }
  });
  std::this_thread::sleep_for(1500ms);
  stop = true;
  clearing.join();
  busy.join();
  EXPECT_GT(clears, 100u);
  std::printf(
      "%s, doorbell cleared %llu times: %d round trips, longest pause %lld ms (%lld ms beyond the "
      "machine's own)\n",
      loop_name(GetParam()), static_cast<unsigned long long>(clears), steady.round_trips(),
      static_cast<long long>(steady.longest_pause_ms()),
      static_cast<long long>(steady.longest_unexplained_pause_ms()));
  test::expect_steady(steady, 5, kBoundMs);
}

INSTANTIATE_TEST_SUITE_P(Loops, DoorbellClearing,
                         ::testing::Values(Loop::run, Loop::run_once_long, Loop::own_poll),
                         [](const ::testing::TestParamInfo<Loop>& p) {
                           switch (p.param) {
                             case Loop::run: return std::string("Run");
                             case Loop::run_once_long: return std::string("RunOnceLong");
                             case Loop::own_poll: return std::string("OwnPoll");
                           }
                           return std::string("Unknown");
                         });

}  // namespace
}  // namespace ferry
