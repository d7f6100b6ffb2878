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
  explicit Recorder(std::uint32_t batch = 64) {
    ServerOptions o;
    o.endpoint = "bus";
    o.batch = batch;
    auto s = Server::create(o);
    EXPECT_TRUE(s) << s.error().message();
    server = std::move(*s);
    server->on(1, [this](Request& r) {
      std::lock_guard lock(mutex);
      got.emplace_back(r.message().text());
      if (r.message().is_resent()) got.back() += "+";
    });
    server->on(2, [this](Request& r) {
      held.fetch_add(1);  // a request never answered
      (void)r;
    });
  }
  std::vector<std::string> received() {
    std::lock_guard lock(mutex);
    return got;
  }
  std::unique_ptr<Server> server;
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

// Connects while `server` runs on a thread, then stops the thread: the server stays up but
// consumes only when the test calls run_once().
Result<Client> connect_to(Server& server, ClientOptions options) {
  std::atomic<bool> done{false};
  std::thread loop([&] {
    while (!done.load()) (void)server.run_once(1ms);
  });
  auto client = Client::connect(std::move(options));
  done.store(true);
  loop.join();
  return client;
}

TEST(Reconnect, ExactlyWhatTheServerDidNotConsumeIsSentAgainInOrder) {
  test::ScopedSession session;
  Events events;
  auto first = std::make_unique<Recorder>(4);  // serves at most 4 per connection per turn
  ClientOptions options;
  options.on_link = events.callback();
  auto client = connect_to(*first->server, options);
  ASSERT_TRUE(client) << client.error().message();
  for (const auto& m : numbered(0, 10)) ASSERT_TRUE(client->send(1, as_bytes(m)));
  EXPECT_EQ(client->acknowledged(), 0u);
  ASSERT_TRUE(first->server->run_once(0ms));  // one turn: m0..m3
  EXPECT_EQ(first->received(), numbered(0, 4));
  EXPECT_EQ(client->acknowledged(), 4u);
  first.reset();  // the server is gone; m4..m9 were never consumed

  RecorderThread second;
  // The wait notices the loss, reconnects, sends m4..m9 again; then a new message.
  EXPECT_EQ(*client->wait([](const Message&) {}, 50ms), 0u);
  ASSERT_TRUE(client->send(1, as_bytes("m10")));
  ASSERT_TRUE(client->request(2, as_bytes("sync"), 100ms).code() == Errc::timed_out);
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
  ClientOptions options;
  options.unsent = Unsent::hand_back;
  options.compression.codec = Compression::lz4;  // handed back as sent, not as framed
  options.compression.threshold = 64;
  auto client = connect_to(*first->server, options);
  ASSERT_TRUE(client) << client.error().message();
  const std::string big(1000, 'z');
  for (const auto& m : numbered(0, 5)) ASSERT_TRUE(client->send(1, as_bytes(m + big)));
  ASSERT_TRUE(first->server->run_once(0ms));  // m0..m2
  first.reset();
  RecorderThread second;
  EXPECT_EQ(*client->wait([](const Message&) {}, 50ms), 0u);
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
  std::thread killer([&] {
    while (rec.held.load() == 0) std::this_thread::sleep_for(1ms);
    rec.stop();  // the server goes away holding the request
  });
  const auto start = std::chrono::steady_clock::now();
  auto reply = client->request(2, as_bytes("q"), 10s);
  killer.join();
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.code(), Errc::disconnected);
  EXPECT_NE(reply.error().message().find("went away before replying"), std::string::npos)
      << reply.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
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
  // Down for 300 ms: waits come back empty-handed (not with an error) and keep trying.
  const auto down_until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < down_until) {
    auto n = client->wait([](const Message&) {}, 30ms);
    ASSERT_TRUE(n) << n.error().message();
  }
  EXPECT_FALSE(client->connected());
  RecorderThread again;
  for (int i = 0; i < 200 && !client->connected(); ++i) {
    auto n = client->wait([](const Message&) {}, 10ms);
    ASSERT_TRUE(n) << n.error().message();
  }
  EXPECT_TRUE(client->connected());
  auto e = events.snapshot();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[1].kind, LinkEvent::Kind::restored);
  // 300 ms+ down with pauses of 1, 2, 4, 8, 16, then 20 ms: about 15-20 attempts; far
  // fewer means the pauses grew past the cap, far more that there were none.
  EXPECT_GE(e[1].attempts, 8u);
  EXPECT_LE(e[1].attempts, 60u);
}

TEST(Reconnect, SendWhileDownFailsAfterSendTimeoutNamingTheCause) {
  test::ScopedSession session;
  RecorderThread rec;
  ClientOptions options;
  options.send_timeout = 100ms;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  rec.stop();
  EXPECT_EQ(*client->wait([](const Message&) {}, 10ms), 0u);  // notices
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
