// SPDX-License-Identifier: Apache-2.0
// A server that goes away and comes back, seen from one Client (the servers run in this
// process; kill -9 of real processes is tests/integration/chaos_test.cpp): exactly the
// messages the server did not consume are sent again, in order, or handed back; requests in
// flight fail with a clear error; the client reconnects by itself and says so.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/stat.hpp"
#include "support/endpoint_support.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::as_bytes;

// A server that records the one-way messages of type 1 it handles (their text, with "+"
// appended when the message came marked as sent again).
struct Recorder {
  explicit Recorder(std::uint32_t batch = 64) : server(create(batch)) {
    server.on(1, [this](Request& r) {
      std::lock_guard lock(mutex);
      got.emplace_back(r.message().text());
      if (r.message().is_resent()) got.back() += "+";
    });
    server.on(2, [this](Request& r) {
      held.fetch_add(1);  // a request never answered
      (void)r;
    });
  }
  std::vector<std::string> received() {
    std::lock_guard lock(mutex);
    return got;
  }
  // A server that cannot be created fails the test (value() throws, with the error's text).
  static Server create(std::uint32_t batch) {
    ServerOptions o;
    o.endpoint = "bus";
    o.batch = batch;
    return Server::create(o).value();
  }
  Server server;  // moved-from in a RecorderThread (its thread owns the server)
  std::mutex mutex;
  std::vector<std::string> got;
  std::atomic<int> held{0};
};

// A Recorder whose server runs on a thread of the test. stop() destroys the server: to its
// clients, the server went away.
struct RecorderThread : Recorder {
  RecorderThread() : thread(std::make_unique<test::ServerThread>(std::move(server))) {
    thread->start();
  }
  void stop() { thread.reset(); }
  ServerStats stats() { return (*thread)->stats(); }
  std::unique_ptr<test::ServerThread> thread;
};

// Events as on_link reports them, readable from the test thread.
struct Events {
  std::mutex mutex;
  std::vector<LinkEvent> list;
  std::function<void(const LinkEvent&)> callback() {
    return [this](const LinkEvent& e) {
      std::lock_guard lock(mutex);
      list.push_back(e);
    };
  }
  std::vector<LinkEvent> snapshot() {
    std::lock_guard lock(mutex);
    return list;
  }
};

// Waits (client->wait(), which reconnects) until `events` holds `n` events. One wait is
// not enough on a busy machine: held up past its deadline while it spins, it times out
// before it has looked at the socket, and the client has not noticed the loss yet.
::testing::AssertionResult wait_for_events(Client& client, Events& events, std::size_t n) {
  if (test::wait_for([&] {
        (void)client.wait([](const Message&) {}, 10ms);
        return events.snapshot().size() >= n;
      })) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << events.snapshot().size() << " link events, not " << n;
}

// "m<i>" (built with append: GCC 12 warns falsely about "m" + std::to_string(i)).
std::string name_of(int i) {
  std::string s = "m";
  s.append(std::to_string(i));
  return s;
}

std::vector<std::string> numbered(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i < to; ++i) v.push_back(name_of(i));
  return v;
}

TEST(Reconnect, ExactlyWhatTheServerDidNotConsumeIsSentAgainInOrder) {
  test::ScopedSession session;
  Events events;
  auto first = std::make_unique<Recorder>(4);  // serves at most 4 per connection per turn
  ClientOptions options;
  options.on_link = events.callback();
  auto client = test::connect_while_serving(first->server, options);
  ASSERT_TRUE(client) << client.error().message();
  for (const auto& m : numbered(0, 10)) ASSERT_TRUE(client->send(1, as_bytes(m)));
  EXPECT_EQ(client->acknowledged(), 0u);
  ASSERT_TRUE(first->server.run_once(0ms));  // one turn: m0..m3
  EXPECT_EQ(first->received(), numbered(0, 4));
  EXPECT_EQ(client->acknowledged(), 4u);
  first.reset();  // the server is gone; m4..m9 were never consumed

  RecorderThread second;
  // The wait notices the loss, reconnects, sends m4..m9 again; then a new message.
  EXPECT_EQ(*client->wait([](const Message&) {}, 50ms), 0u);
  ASSERT_TRUE(wait_for_events(*client, events, 2));  // lost, restored
  ASSERT_TRUE(client->send(1, as_bytes("m10")));
  ASSERT_TRUE(client->request(2, as_bytes("sync"), 100ms).code() == Errc::timed_out);
  // The request's timeout says nothing about the server's progress: wait until it has
  // handled the request (after everything sent before it) and acknowledged it.
  ASSERT_TRUE(test::wait_for([&] {
    return second.held.load() == 1 && client->acknowledged() == 12u;
  })) << "the server handled "
      << second.held.load() << " requests, acknowledged " << client->acknowledged();
  auto expected = numbered(4, 11);
  for (int i = 0; i < 6; ++i) expected[static_cast<std::size_t>(i)] += "+";  // m4..m9, not m10
  EXPECT_EQ(second.received(), expected);
  EXPECT_EQ(client->acknowledged(), 11u + 1u);  // the unanswered request was consumed too
  // The server counts the reconnect (the hello says so); observers see it per connection.
  EXPECT_EQ(second.stats().reconnects, 1u);
  EXPECT_EQ(second.stats().accepted, 1u);
  auto seen = read_process_stat(0);
  ASSERT_TRUE(seen) << seen.error().message();
  ASSERT_EQ(seen->size(), 1u);
  ASSERT_EQ((*seen)[0].connections.size(), 1u);
  EXPECT_EQ((*seen)[0].connections[0].id, client->id());
  EXPECT_EQ((*seen)[0].connections[0].reconnects, 1u);
  EXPECT_EQ((*seen)[0].server.reconnects, 1u);

  auto e = events.snapshot();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].kind, LinkEvent::Kind::lost);
  EXPECT_EQ(e[0].unsent, 6u);
  EXPECT_EQ(e[0].dropped, 0u);
  EXPECT_NE(e[0].reason.find("bus.sock"), std::string::npos) << e[0].reason;
  EXPECT_EQ(e[1].kind, LinkEvent::Kind::restored);
  EXPECT_EQ(e[1].resent, 6u);
  EXPECT_GE(e[1].attempts, 1u);
}

TEST(Reconnect, HandBackGivesTheUnconsumedMessagesToTheApplication) {
  test::ScopedSession session;
  auto first = std::make_unique<Recorder>(3);
  Events events;
  ClientOptions options;
  options.on_link = events.callback();
  options.unsent = Unsent::hand_back;
  options.compression.codec = Compression::lz4;  // handed back as sent, not as framed
  options.compression.threshold = 64;
  auto client = test::connect_while_serving(first->server, options);
  ASSERT_TRUE(client) << client.error().message();
  const std::string big(1000, 'z');
  for (const auto& m : numbered(0, 5)) ASSERT_TRUE(client->send(1, as_bytes(m + big)));
  ASSERT_TRUE(first->server.run_once(0ms));  // m0..m2
  first.reset();
  RecorderThread second;
  EXPECT_EQ(*client->wait([](const Message&) {}, 50ms), 0u);
  ASSERT_TRUE(wait_for_events(*client, events, 2));  // lost, restored
  auto unsent = client->take_unsent();
  ASSERT_EQ(unsent.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(unsent[static_cast<std::size_t>(i)].type, 1);
    const auto& p = unsent[static_cast<std::size_t>(i)].payload;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(p.data()), p.size()),  // NOLINT
              name_of(3 + i) + big);
  }
  EXPECT_TRUE(client->take_unsent().empty());
  ASSERT_TRUE(client->request(2, as_bytes("sync"), 50ms).code() == Errc::timed_out);
  // Once the server has handled the request, it would have handled anything sent before.
  ASSERT_TRUE(test::wait_for([&] { return second.held.load() == 1; }));
  EXPECT_TRUE(second.received().empty());  // nothing was sent again
}

TEST(Reconnect, RequestInFlightFailsAtOnceWithAClearError) {
  test::ScopedSession session;
  RecorderThread rec;
  Events events;
  ClientOptions options;
  options.on_link = events.callback();
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  std::chrono::steady_clock::time_point gone_at;  // the killer's until join()
  std::thread killer([&] {
    EXPECT_TRUE(test::wait_for([&] { return rec.held.load() != 0; })) << "request not handled";
    rec.stop();  // the server goes away holding the request
    gone_at = std::chrono::steady_clock::now();
  });
  // A timeout far longer than the test takes: failing with `disconnected` before it shows
  // the loss was noticed, not waited out.
  auto reply = client->request(2, as_bytes("q"), 60s);
  const auto failed_at = std::chrono::steady_clock::now();
  killer.join();
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.code(), Errc::disconnected);
  EXPECT_NE(reply.error().message().find("went away before replying"), std::string::npos)
      << reply.error().message();
  // Timed from the server's end, not the request's start (the server thread may be slow
  // to handle it on a busy machine).
  EXPECT_LT(failed_at - gone_at, 5s);
  auto e = events.snapshot();
  ASSERT_EQ(e.size(), 1u);
  // Its handler ran, so the server consumed it: nothing to send again, nothing dropped.
  EXPECT_EQ(e[0].dropped, 0u);
  EXPECT_EQ(e[0].unsent, 0u);
}

TEST(Reconnect, WhileDownCallsRetryWithCappedBackoffThenSucceed) {
  test::ScopedSession session;
  RecorderThread rec;
  Events events;
  ClientOptions options;
  options.on_link = events.callback();
  options.reconnect_backoff_max = 20ms;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  rec.stop();
  // Down for 1 s: waits come back empty-handed (not with an error) and keep trying. With
  // pauses capped at 20 ms, each 30 ms wait makes an attempt however late a busy machine
  // wakes the client: the next one is due at most 20 ms after the last, made before the
  // wait began, and a wait that wakes late still makes the attempt that is due. Pauses
  // doubling without a cap (1, 2, 4, ... ms: 11 attempts in 1 s) leave most waits without.
  const auto down_until = std::chrono::steady_clock::now() + 1s;
  std::uint32_t down_waits = 0;
  while (std::chrono::steady_clock::now() < down_until) {
    auto n = client->wait([](const Message&) {}, 30ms);
    ASSERT_TRUE(n) << n.error().message();
    ++down_waits;
  }
  EXPECT_FALSE(client->connected());
  RecorderThread again;
  const auto deadline = std::chrono::steady_clock::now() + test::kPatience;
  while (!client->connected() && std::chrono::steady_clock::now() < deadline) {
    auto n = client->wait([](const Message&) {}, 10ms);
    ASSERT_TRUE(n) << n.error().message();
  }
  EXPECT_TRUE(client->connected());
  auto e = events.snapshot();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].kind, LinkEvent::Kind::restored);
  // Fewer attempts than waits: the pauses grew past the cap. Far more than the time down
  // allows with pauses of 1, 2, 4, 8, 16, then 20 ms (pauses averaging under half the cap):
  // there were none. A slow machine only oversleeps, so it makes fewer, never more.
  const auto down_ms = std::chrono::duration_cast<std::chrono::milliseconds>(e[1].down_for).count();
  EXPECT_GE(e[1].attempts, down_waits) << "down " << down_ms << " ms";
  EXPECT_LE(e[1].attempts, static_cast<std::uint32_t>(6 + down_ms / 10))
      << "down " << down_ms << " ms, " << down_waits << " waits";
}

TEST(Reconnect, SendWhileDownFailsAfterSendTimeoutNamingTheCause) {
  test::ScopedSession session;
  RecorderThread rec;
  Events events;
  ClientOptions options;
  options.on_link = events.callback();
  options.send_timeout = 100ms;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  rec.stop();
  // Noticed by a wait: a first send would not notice, it would go into the dead ring.
  EXPECT_EQ(*client->wait([](const Message&) {}, 10ms), 0u);
  ASSERT_TRUE(wait_for_events(*client, events, 1));
  auto sent = client->send(1, as_bytes("nobody"));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.code(), Errc::disconnected);
  EXPECT_NE(sent.error().message().find("not reconnected after"), std::string::npos)
      << sent.error().message();
}

TEST(Reconnect, WithoutReconnectEveryCallAfterTheLossFails) {
  test::ScopedSession session;
  RecorderThread rec;
  ClientOptions options;
  options.reconnect = false;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  rec.stop();
  EXPECT_EQ(client->wait([](const Message&) {}, 1s).code(), Errc::disconnected);
  RecorderThread again;
  EXPECT_EQ(client->send(1, as_bytes("x")).code(), Errc::disconnected);
  EXPECT_FALSE(client->connected());
}

}  // namespace
}  // namespace ferry
