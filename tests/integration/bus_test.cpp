// ferryd's bus with real processes: publish/subscribe fan-out (32 publishers x 32
// subscribers, every message exactly once, in per-publisher order), requests routed to a
// serving client and their replies routed back, and what requesters see when no client
// serves a type or the serving client dies with the request in hand.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "ferry/client.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::as_bytes;

// Counters shared by the test and its children (MAP_SHARED memory).
struct Shared {
  std::atomic<int> ready{0};
  std::atomic<int> go{0};
};

void wait_for(const std::atomic<int>& value, int target) {
  while (value.load() < target) std::this_thread::sleep_for(1ms);  // block, do not spin
}

ClientOptions patient() {
  ClientOptions o;
  o.send_timeout = 60s;  // 65 processes on 2 cores: backpressure may last a while
  return o;
}

TEST(Bus, ThirtyTwoPublishersThirtyTwoSubscribersExactlyOnceInOrder) {
  test::ScopedSession session("bus-fanout");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  test::Watchdog watchdog(240s, "32x32 fan-out");
  constexpr int kPublishers = 32;
  constexpr int kSubscribers = 32;
  constexpr std::uint16_t kType = 100;
  const std::uint64_t per_publisher = test::scaled(1000);
  test::SharedBlock block(sizeof(Shared));
  auto* shared = new (block.data()) Shared;
  std::vector<pid_t> children;
  for (int s = 0; s < kSubscribers; ++s) {
    children.push_back(test::fork_child([&]() -> int {
      auto client = Client::connect(patient());
      if (!client) return 10;
      if (!client->subscribe(kType)) return 11;
      shared->ready.fetch_add(1);
      std::vector<std::uint64_t> next(kPublishers, 0);
      std::uint64_t total = 0;
      int errors = 0;
      const std::uint64_t expected = per_publisher * kPublishers;
      auto check = [&](const Message& m) {
        ++total;
        std::uint32_t pub = 0;
        std::uint64_t seq = 0;
        if (m.type != kType || m.payload.size() < 12) {
          ++errors;
          return;
        }
        std::memcpy(&pub, m.payload.data(), 4);
        std::memcpy(&seq, m.payload.data() + 4, 8);
        if (pub >= kPublishers || seq != next[pub]++) ++errors;  // lost, repeated, reordered
        if (!test::check_pattern(m.payload.subspan(12), seq * 64 + pub)) ++errors;
      };
      while (total < expected) {
        auto n = client->wait(check, 30s);
        if (!n || *n == 0) return 12;  // stalled or disconnected
      }
      // Nothing extra arrives (no duplicates after the last one).
      auto extra = client->wait(check, 200ms);
      if (!extra || *extra != 0) return 13;
      return errors == 0 ? 0 : 14;
    }));
  }
  wait_for(shared->ready, kSubscribers);
  for (int p = 0; p < kPublishers; ++p) {
    children.push_back(test::fork_child([&, p]() -> int {
      auto client = Client::connect(patient());
      if (!client) return 20;
      std::vector<std::byte> buf(12 + 256);
      for (std::uint64_t seq = 0; seq < per_publisher; ++seq) {
        const auto pub = static_cast<std::uint32_t>(p);
        std::memcpy(buf.data(), &pub, 4);
        std::memcpy(buf.data() + 4, &seq, 8);
        const std::size_t n = test::pattern_size(seq, 256);
        test::fill_pattern(std::span<std::byte>(buf.data() + 12, n), seq * 64 + pub);
        if (auto r = client->send(kType, std::span<const std::byte>(buf.data(), 12 + n)); !r) {
          std::fprintf(stderr, "publisher %d: %s\n", p, r.error().message().c_str());
          return 21;
        }
      }
      return 0;
    }));
  }
  for (pid_t c : children) EXPECT_EQ(test::wait_child(c), 0);
  EXPECT_EQ(ferryd.stop(), 0);
}

// A serving client: answers type 200 with the payload reversed, until told to stop
// (type 201, which it subscribes to).
int serve_reversed(Shared* shared, bool die_on_first_request) {
  auto client = Client::connect(patient());
  if (!client) return 30;
  if (!client->serve(200) || !client->subscribe(201)) return 31;
  shared->ready.fetch_add(1);
  bool stop = false;
  while (!stop) {
    auto n = client->wait(
        [&](const Message& m) {
          if (m.type == 201) {
            stop = true;
            return;
          }
          if (die_on_first_request) raise(SIGKILL);
          std::string s(m.text());
          std::reverse(s.begin(), s.end());
          if (!client->reply(m, as_bytes(s))) stop = true;
        },
        30s);
    if (!n || *n == 0) return 32;
  }
  return 0;
}

TEST(Bus, RequestsRouteToTheServingClientAndRepliesBack) {
  test::ScopedSession session("bus-reqrep");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  test::Watchdog watchdog(120s, "request routing");
  test::SharedBlock block(sizeof(Shared));
  auto* shared = new (block.data()) Shared;
  const pid_t server = test::fork_child([&] { return serve_reversed(shared, false); });
  wait_for(shared->ready, 1);
  const std::uint64_t requests = test::scaled(500);
  std::vector<pid_t> requesters;
  for (int r = 0; r < 8; ++r) {
    requesters.push_back(test::fork_child([&, r]() -> int {
      auto client = Client::connect(patient());
      if (!client) return 40;
      for (std::uint64_t i = 0; i < requests; ++i) {
        const std::string q = "req " + std::to_string(r) + " " + std::to_string(i);
        auto reply = client->request(200, as_bytes(q), 10s);
        if (!reply) {
          std::fprintf(stderr, "requester %d: %s\n", r, reply.error().message().c_str());
          return 41;
        }
        std::string want = q;
        std::reverse(want.begin(), want.end());
        if (reply->text() != want || reply->type != 200) return 42;
      }
      return 0;
    }));
  }
  for (pid_t c : requesters) EXPECT_EQ(test::wait_child(c), 0);

  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  // Nobody serves 202.
  auto none = client->request(202, as_bytes("?"), 5s);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.code(), Errc::remote);
  EXPECT_NE(none.error().message().find("no client serves message type 202"), std::string::npos)
      << none.error().message();
  // Reserved types cannot be subscribed to.
  auto reserved = client->subscribe(0xff10);
  ASSERT_FALSE(reserved);
  EXPECT_NE(reserved.error().message().find("reserved"), std::string::npos);
  ASSERT_TRUE(client->send(201, {}));
  EXPECT_EQ(test::wait_child(server), 0);
}

TEST(Bus, ServingClientDyingFailsTheRequestAtOnce) {
  test::ScopedSession session("bus-death");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  test::SharedBlock block(sizeof(Shared));
  auto* shared = new (block.data()) Shared;
  const pid_t server = test::fork_child([&] { return serve_reversed(shared, true); });
  wait_for(shared->ready, 1);
  auto client = Client::connect();
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  auto reply = client->request(200, as_bytes("doomed"), 20s);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.code(), Errc::remote);
  EXPECT_NE(reply.error().message().find("disconnected before replying"), std::string::npos)
      << reply.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(test::wait_child(server), 128 + SIGKILL);
  // The type is no longer served.
  auto again = client->request(200, as_bytes("x"), 5s);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message().find("no client serves"), std::string::npos);
}

TEST(Bus, SubscribeUnsubscribeAndSelfDelivery) {
  test::ScopedSession session("bus-sub");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  auto a = Client::connect();
  auto b = Client::connect();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->subscribe(7));
  ASSERT_TRUE(b->send(7, as_bytes("one")));
  ASSERT_TRUE(a->send(7, as_bytes("two")));  // a subscriber gets its own publications too
  std::vector<std::string> got;
  while (got.size() < 2) {
    auto n = a->wait([&](const Message& m) { got.emplace_back(m.text()); }, 5s);
    ASSERT_TRUE(n && *n > 0);
  }
  // Order holds per publisher; between two publishers it is whatever the bus saw first.
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two"}));
  ASSERT_TRUE(a->unsubscribe(7));
  ASSERT_TRUE(b->send(7, as_bytes("three")));
  // b's next request is served after its publication: once it returns, "three" was routed.
  EXPECT_FALSE(b->request(9, {}, 5s));
  auto n = a->wait([&](const Message& m) { got.emplace_back(m.text()); }, 50ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
}

}  // namespace
}  // namespace ferry
