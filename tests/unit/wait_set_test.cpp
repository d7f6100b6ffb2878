// SPDX-License-Identifier: Apache-2.0
// WaitSet: one thread serving a Server and receiving on several Clients, asleep in between;
// a client that loses its server reconnects through the set's turns; nesting in a loop of
// one's own through fd() and prepare_wait().
#include "ferry/wait_set.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "support/endpoint_support.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::as_bytes;

constexpr std::uint16_t kPing = 1;  // pushed back as kPong by the servers below
constexpr std::uint16_t kPong = 2;
constexpr std::uint16_t kEcho = 3;  // a request, echoed

ClientOptions to(const std::string& endpoint) {
  ClientOptions o;
  o.endpoint = endpoint;
  return o;
}

// "a7": a text with a one-letter prefix.
std::string numbered(char prefix, int i) {
  std::string s(1, prefix);
  s += std::to_string(i);
  return s;
}

ServerOptions at(const std::string& endpoint) {
  ServerOptions o;
  o.endpoint = endpoint;
  return o;
}

// A server on a thread of the test that pushes kPong: "hello" to each client that
// connects, and each kPing's payload back to its sender. Its handlers hold the Server's
// address, which stays put inside the ServerThread. One that cannot be created fails the
// test (value() throws, with the error's text).
class PushingServer : public test::ServerThread {
 public:
  explicit PushingServer(const std::string& endpoint)
      : ServerThread(Server::create(at(endpoint)).value()) {
    Server& s = **this;
    s.on(kPing, [&s](Request& r) { (void)s.send(r.connection(), kPong, r.payload()); });
    s.on_connect([&s](const ConnectionInfo& c) { (void)s.send(c.id, kPong, as_bytes("hello")); });
  }
};

TEST(WaitSet, OneThreadServesAServerAndTwoClientsAndSleepsBetweenMessages) {
  test::ScopedSession session;
  PushingServer a("a");
  PushingServer b("b");
  a.start();
  b.start();
  auto own = Server::create(at("own"));
  ASSERT_TRUE(own) << own.error().message();
  Server& server = *own;
  server.on(kEcho, [](Request& r) { (void)r.reply(r.payload()); });

  auto to_a = Client::connect(to("a"));
  auto to_b = Client::connect(to("b"));
  ASSERT_TRUE(to_a && to_b);
  std::vector<std::string> from_a;
  std::vector<std::string> from_b;
  auto set = WaitSet::create();
  ASSERT_TRUE(set) << set.error().message();
  ASSERT_TRUE(set->add(*to_a, [&](const Message& m) { from_a.emplace_back(m.text()); }));
  ASSERT_TRUE(set->add(*to_b, [&](const Message& m) { from_b.emplace_back(m.text()); }));
  ASSERT_TRUE(set->add(server));
  EXPECT_EQ(set->add(server).code(), Errc::invalid_argument);
  EXPECT_EQ(set->size(), 3u);

  // A requester on another thread: its requests are answered by this thread's set.
  constexpr int kRounds = 100;
  std::atomic<int> answered{0};
  std::thread requester([&] {
    auto c = Client::connect(to("own"));
    ASSERT_TRUE(c) << c.error().message();
    for (int i = 0; i < kRounds; ++i) {
      std::this_thread::sleep_for(200us);  // so that the set really sleeps in between
      auto reply = c->request(kEcho, as_bytes(numbered('q', i)), 5s);
      ASSERT_TRUE(reply) << reply.error().message();
      EXPECT_EQ(reply->text(), numbered('q', i));
      answered.fetch_add(1);
    }
  });

  int calls = 0;
  int sent = 0;
  while (answered.load() < kRounds || from_a.size() < kRounds + 1 || from_b.size() < kRounds + 1) {
    if (sent < kRounds) {  // one ping to each remote server per round
      ASSERT_TRUE(to_a->send(kPing, as_bytes(numbered('a', sent))));
      ASSERT_TRUE(to_b->send(kPing, as_bytes(numbered('b', sent))));
      ++sent;
    }
    auto n = set->run_once(5s);
    ASSERT_TRUE(n) << n.error().message();
    ++calls;
    ASSERT_LT(calls, 20 * kRounds) << "the set spins instead of sleeping";
  }
  requester.join();
  ASSERT_EQ(from_a.size(), kRounds + 1u);
  EXPECT_EQ(from_a.front(), "hello");
  EXPECT_EQ(from_a.back(), numbered('a', kRounds - 1));
  EXPECT_EQ(from_b.back(), numbered('b', kRounds - 1));
  EXPECT_EQ(server.stats().messages_in, static_cast<std::uint64_t>(kRounds));
}

TEST(WaitSet, AClientReconnectsThroughTheSetsTurns) {
  test::ScopedSession session;
  PushingServer first("a");
  first.start();
  ClientOptions options = to("a");
  options.reconnect_backoff_max = 20ms;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  std::vector<std::string> got;
  auto set = WaitSet::create();
  ASSERT_TRUE(set);
  ASSERT_TRUE(set->add(*client, [&](const Message& m) { got.emplace_back(m.text()); }));
  while (got.empty()) ASSERT_TRUE(set->run_once(5s));
  ASSERT_EQ(got.back(), "hello");

  first.reset();  // the server goes; the client notices in its next turn
  int outage_calls = 0;
  for (auto until = std::chrono::steady_clock::now() + 200ms;
       std::chrono::steady_clock::now() < until;) {
    auto n = set->run_once(5s);  // the set must wake itself to let the client retry
    ASSERT_TRUE(n) << n.error().message();
    ++outage_calls;
  }
  // About one turn per 10 ms tick; a spinning set makes thousands, and one that sleeps
  // out its timeout (5 s) makes one or two.
  EXPECT_LT(outage_calls, 200);
  EXPECT_GE(outage_calls, 3) << "the set slept through the client's reconnection";
  EXPECT_FALSE(client->connected());

  PushingServer second("a");
  second.start();
  got.clear();
  while (got.empty()) ASSERT_TRUE(set->run_once(5s));
  EXPECT_EQ(got.back(), "hello") << "the client did not reconnect through the set";
  EXPECT_TRUE(client->connected());
  EXPECT_EQ(client->links(), 2u);
  // The new connection's descriptor wakes the set, though it may have the old one's number
  // (and the restarted server gives it the old connection id): the kernel dropped the old
  // registration with the old socket.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(client->send(kPing, as_bytes("again")));
    const std::size_t before = got.size();
    while (got.size() == before) {
      if (set->prepare_wait()) {
        pollfd p{set->fd(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the set never woke for the new connection";
      }
      ASSERT_TRUE(set->run_once(0ns));
    }
  }
}

TEST(WaitSet, NestsInALoopOfOnesOwnAndForgetsRemovedMembers) {
  test::ScopedSession session;
  PushingServer remote("a");
  remote.start();
  auto client = Client::connect(to("a"));
  ASSERT_TRUE(client);
  int received = 0;
  auto set = WaitSet::create();
  ASSERT_TRUE(set);
  ASSERT_TRUE(set->add(*client, [&](const Message&) { ++received; }));
  int wakes = 0;
  for (int i = 0; i < 50; ++i) {
    if (i > 0) {
      ASSERT_TRUE(client->send(kPing, as_bytes("x")));
    }
    const int want = i + 1;  // the hello, then one pong per ping
    while (received < want) {
      if (set->prepare_wait()) {
        pollfd p{set->fd(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 5000), 1) << "fd() did not become readable";
        ++wakes;
      }
      ASSERT_TRUE(set->run_once(0ns));
    }
  }
  EXPECT_EQ(received, 50);
  EXPECT_LE(wakes, 3 * 50) << "fd() stays readable: the loop spins";

  set->remove(*client);
  set->remove(*client);  // a second time: nothing happens
  EXPECT_EQ(set->size(), 0u);
  ASSERT_TRUE(client->send(kPing, as_bytes("y")));
  auto n = set->run_once(50ms);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(received, 50) << "a removed client's messages went to its handler";
}

TEST(WaitSet, RefusesAClientWithoutAHandlerAndReportsAFailingMember) {
  test::ScopedSession session;
  PushingServer remote("a");
  remote.start();
  ClientOptions options = to("a");
  options.reconnect = false;
  auto client = Client::connect(options);
  ASSERT_TRUE(client);
  auto set = WaitSet::create();
  ASSERT_TRUE(set);
  EXPECT_EQ(set->add(*client, nullptr).code(), Errc::invalid_argument);
  EXPECT_EQ(set->add(
                   *client, [](const Message&) {}, 0)
                .code(),
            Errc::invalid_argument);
  ASSERT_TRUE(set->add(*client, [](const Message&) {}));
  remote.reset();
  Result<std::size_t> n = std::size_t{0};
  for (int i = 0; i < 100 && n; ++i) n = set->run_once(1s);
  ASSERT_FALSE(n) << "a client whose server is gone (reconnect off) never failed";
  EXPECT_EQ(n.code(), Errc::disconnected) << n.error().message();
}

}  // namespace
}  // namespace ferry
