// SPDX-License-Identifier: Apache-2.0
// Server and Client in one process (the server on a thread): routing, request/response,
// pushes, compression, and every handshake error. Servers and clients in separate
// processes are tested in tests/integration/ (robustness_test.cpp, chaos_test.cpp, ...).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "control/handshake.hpp"
#include "control/unix_socket.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/stat.hpp"
#include "ferry/typed.hpp"
#include "support/endpoint_support.hpp"
#include "support/lateness.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::as_bytes;

// A server that cannot be created fails the test (value() throws, with the error's text).
Server make_server(ServerOptions options = {}) {
  options.endpoint = options.endpoint.empty() ? "bus" : options.endpoint;
  return Server::create(options).value();
}

// Echo requests of type 1 back in upper case; count type 2 messages.
struct EchoServer {
  explicit EchoServer(ServerOptions options = {}) : server(make_server(std::move(options))) {
    server->on(1, [](Request& r) {
      std::string s(r.message().text());
      for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      auto ok = r.reply(as_bytes(s));
      if (!ok && ok.code() == Errc::would_block) r.retry_later();
    });
    server->on(2, [this](Request& r) {
      received.fetch_add(1);
      bytes.fetch_add(r.payload().size());
    });
    server.start();
  }
  test::ServerThread server;
  std::atomic<int> received{0};
  std::atomic<std::size_t> bytes{0};
};

TEST(ServerClient, RequestReplyAndOneWay) {
  test::ScopedSession session;
  EchoServer echo;
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  for (int i = 0; i < 100; ++i) {
    auto reply = client->request(1, as_bytes("hello " + std::to_string(i)), 5s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), "HELLO " + std::to_string(i));
    EXPECT_EQ(reply->type, 1);
  }
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(client->send(2, as_bytes("x")));
  // The server counts on its own thread; a request after them is served after them.
  ASSERT_TRUE(client->request(1, as_bytes("sync"), 5s));
  EXPECT_EQ(echo.received.load(), 1000);
}

// Text and typed payloads: send(type, "text"), request(type, std::string, ...), send<T>,
// reserve<T>/commit<T>; a braced {} is still an empty payload.
TEST(ServerClient, TextAndTypedPayloads) {
  struct Quote {
    std::uint64_t id;
    double price;
  };
  constexpr MessageType<3> kText;  // any bytes
  constexpr MessageType<4, Quote> kQuote;
  static_assert(kQuote == 4 && kText.id == 3);
  test::ScopedSession session;
  auto server = make_server();
  std::mutex lock;  // the handlers run on the server's thread
  std::vector<std::string> texts;
  std::vector<Quote> quotes;
  std::string bad;
  server.on(kText, [&](Request& r) {
    const std::lock_guard<std::mutex> hold(lock);
    texts.emplace_back(r.message().text());
  });
  server.on(kQuote, [&](Request& r) {
    const std::lock_guard<std::mutex> hold(lock);
    if (auto q = view_as(kQuote, r.payload())) {
      quotes.push_back(**q);
    } else {
      bad = q.error().message();
    }
  });
  server.on(1, [](Request& r) {
    std::string s(r.message().text());
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    (void)r.reply(s);  // text
  });
  test::ServerThread running(std::move(server));
  running.start();
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_TRUE(client->send(3, "literal"));
  ASSERT_TRUE(client->send(3, std::string("string")));
  ASSERT_TRUE(client->send(3, std::string_view("view")));
  ASSERT_TRUE(client->send(3, {}));
  ASSERT_TRUE(client->send(kText, "named"));
  ASSERT_TRUE(client->send<Quote>(4, Quote{7001, 10.625}));
  ASSERT_TRUE(client->send(kQuote, Quote{7003, 12.25}));
  auto room = client->reserve<Quote>();
  ASSERT_TRUE(room) << room.error().message();
  EXPECT_EQ((*room)->id, 0u);  // value-initialized
  (*room)->id = 7002;
  (*room)->price = 11.5;
  client->commit<Quote>(4);
  auto reply = client->request(1, std::string("shout"), 5s);  // served after the rest
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "SHOUT");
  const std::lock_guard<std::mutex> hold(lock);
  EXPECT_EQ(bad, "");
  EXPECT_EQ(texts, (std::vector<std::string>{"literal", "string", "view", "", "named"}));
  ASSERT_EQ(quotes.size(), 3u);
  EXPECT_EQ(quotes[0].id, 7001u);
  EXPECT_EQ(quotes[0].price, 10.625);
  EXPECT_EQ(quotes[1].id, 7003u);
  EXPECT_EQ(quotes[1].price, 12.25);
  EXPECT_EQ(quotes[2].id, 7002u);
  EXPECT_EQ(quotes[2].price, 11.5);
}

// send_request(): replies (and error replies) come to the handler, matched by correlation id.
TEST(ServerClient, AsyncRequestsAreAnsweredThroughTheHandler) {
  test::ScopedSession session;
  EchoServer echo;
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  std::map<std::uint32_t, std::string> sent;
  for (int i = 0; i < 50; ++i) {
    const std::string text = "async " + std::to_string(i);
    auto corr = client->send_request(1, as_bytes(text));
    ASSERT_TRUE(corr) << corr.error().message();
    EXPECT_TRUE(sent.emplace(*corr, text).second) << "a correlation id came twice";
  }
  auto unknown = client->send_request(77, as_bytes("?"));
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(client->send_request(kReservedTypes, {}));
  std::map<std::uint32_t, std::string> replies;
  std::string error;
  const Client::Handler handler = [&](const Message& m) {
    ASSERT_TRUE(m.is_reply());
    if (m.correlation == *unknown) {
      EXPECT_TRUE(m.is_error());
      error = std::string(m.text());
      return;
    }
    replies.emplace(m.correlation, std::string(m.text()));
  };
  for (int i = 0; i < 500 && (replies.size() < sent.size() || error.empty()); ++i) {
    ASSERT_TRUE(client->wait(handler, 100ms));
  }
  ASSERT_EQ(replies.size(), sent.size());
  for (const auto& [corr, text] : sent) {
    std::string upper = text;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(replies[corr], upper);
  }
  EXPECT_NE(error.find("77"), std::string::npos) << error;
}

// A blocking request() keeps the replies to send_request()s that arrive while it waits.
TEST(ServerClient, AsyncRepliesSurviveABlockingRequest) {
  test::ScopedSession session;
  EchoServer echo;
  auto client = Client::connect();
  ASSERT_TRUE(client);
  auto corr = client->send_request(1, as_bytes("first"));
  ASSERT_TRUE(corr);
  auto reply = client->request(1, as_bytes("second"), 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "SECOND");
  std::string got;
  ASSERT_TRUE(client->poll([&](const Message& m) {
    EXPECT_EQ(m.correlation, *corr);
    got = std::string(m.text());
  }));
  EXPECT_EQ(got, "FIRST");
}

// When the server goes away, every send_request() still unanswered gets an error reply.
TEST(ServerClient, ALostServerFailsOutstandingAsyncRequests) {
  test::ScopedSession session;
  auto echo = std::make_unique<EchoServer>();
  echo->server->on(5, [](Request&) {});  // never answers
  auto client = Client::connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->request(1, as_bytes("x"), 5s));  // the handler for 5 is in place
  std::vector<std::uint32_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto corr = client->send_request(5, as_bytes("never answered"));
    ASSERT_TRUE(corr);
    ids.push_back(*corr);
  }
  ASSERT_TRUE(client->request(1, as_bytes("y"), 5s));  // the three were consumed
  echo.reset();
  std::vector<std::uint32_t> failed;
  std::string text;
  const Client::Handler handler = [&](const Message& m) {
    EXPECT_TRUE(m.is_reply() && m.is_error());
    failed.push_back(m.correlation);
    text = std::string(m.text());
  };
  for (int i = 0; i < 100 && failed.size() < ids.size(); ++i) (void)client->wait(handler, 50ms);
  std::sort(failed.begin(), failed.end());
  EXPECT_EQ(failed, ids);
  EXPECT_NE(text.find("went away before replying to message type 5"), std::string::npos) << text;
}

TEST(ServerClient, StatsAreReadableWhileServingAndTheHistogramSamplesHandlers) {
  test::ScopedSession session;
  ServerOptions timed;
  timed.handler_histogram = true;
  EchoServer echo(timed);
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  for (int i = 0; i < 159; ++i) ASSERT_TRUE(client->send(2, as_bytes("12345")));
  ASSERT_TRUE(client->request(1, as_bytes("sync"), 5s));
  // Read from this thread while the server's runs: the counters live in shared memory.
  const ServerStats s = echo.server->stats();
  EXPECT_EQ(s.messages_in, 160u);
  EXPECT_EQ(s.bytes_in, 159u * 5u + 4u);
  EXPECT_EQ(s.messages_out, 1u);
  EXPECT_EQ(s.bytes_out, 4u);
  EXPECT_EQ(s.active, 1u);
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.reconnects, 0u);
  const LatencyHistogram h = echo.server->handler_latency();
  EXPECT_EQ(h.count, 160u / kHandlerSampleEvery);
  EXPECT_GT(h.sum_seconds, 0.0);
  EXPECT_LE(h.cumulative[kLatencyBuckets - 1], h.count);
  for (std::size_t b = 1; b < kLatencyBuckets; ++b) {
    EXPECT_LE(h.cumulative[b - 1], h.cumulative[b]) << b;
  }
  // The histogram is in the stat segment: another process reads the same figures.
  auto seen = read_process_stat(0);
  ASSERT_TRUE(seen) << seen.error().message();
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_TRUE(seen->front().handler_histogram);
  EXPECT_EQ(seen->front().handler_latency.count, h.count);
  EXPECT_EQ(seen->front().handler_latency.sum_seconds, h.sum_seconds);
}

TEST(ServerClient, WithoutTheHistogramNoHandlerIsTimed) {
  test::ScopedSession session;
  EchoServer echo;
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(client->send(2, as_bytes("x")));
  ASSERT_TRUE(client->request(1, as_bytes("sync"), 5s));
  EXPECT_EQ(echo.server->handler_latency().count, 0u);
  EXPECT_EQ(echo.server->stats().messages_in, 65u);
}

TEST(ServerClient, UnknownRequestTypeGetsAnErrorReply) {
  test::ScopedSession session;
  EchoServer echo;
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  auto reply = client->request(77, as_bytes("?"), 5s);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.code(), Errc::remote);
  EXPECT_NE(reply.error().message().find("no handler for message type 77"), std::string::npos)
      << reply.error().message();
}

TEST(ServerClient, ReservedTypesAreRefusedBySend) {
  test::ScopedSession session;
  EchoServer echo;
  auto client = Client::connect();
  ASSERT_TRUE(client);
  auto r = client->send(kReservedTypes, as_bytes("x"));
  EXPECT_EQ(r.code(), Errc::invalid_argument);
  EXPECT_NE(r.error().message().find("reserved"), std::string::npos);
}

// Batching: what is sent or committed with Publish::later reaches the server only with the
// flush, in order and all at once.
TEST(ServerClient, BatchedMessagesArePublishedByTheFlush) {
  test::ScopedSession session;
  auto server = make_server();
  std::vector<std::string> got;
  server.on(2, [&](Request& r) { got.emplace_back(r.message().text()); });
  auto client = test::connect_while_serving(server);
  ASSERT_TRUE(client) << client.error().message();
  std::vector<std::string> sent;
  for (int i = 0; i < 10; ++i) {
    sent.push_back("staged " + std::to_string(i));
    ASSERT_TRUE(client->send(2, as_bytes(sent.back()), Publish::later));
  }
  auto room = client->reserve(8);
  ASSERT_TRUE(room) << room.error().message();
  std::memcpy(room->data(), "in place", 8);
  client->commit(8, 2, Publish::later);
  sent.emplace_back("in place");
  // No thread but this one turns the server: what it can see, it handles now.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(server.run_once(std::chrono::nanoseconds(0)));
  EXPECT_TRUE(got.empty()) << got.size() << " staged messages were published before flush()";
  client->flush();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (got.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(server.run_once(10ms));
  }
  EXPECT_EQ(got, sent);
}

// A batch larger than the ring goes through: a full ring publishes what is staged and
// waits for room.
TEST(ServerClient, ABatchLargerThanTheRingGoesThrough) {
  test::ScopedSession session;
  EchoServer echo;
  ClientOptions options;
  options.ring_capacity = 64 * 1024;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  const std::string payload(1000, 'b');
  constexpr int kMessages = 1000;  // about 15 times the ring
  for (int i = 0; i < kMessages; ++i) {
    ASSERT_TRUE(client->send(2, as_bytes(payload), Publish::later));
  }
  client->flush();
  test::wait_for([&] { return echo.received.load() == kMessages; });
  EXPECT_EQ(echo.received.load(), kMessages);
}

// Staged messages are published before the client waits for messages, and when it closes.
TEST(ServerClient, StagedMessagesArePublishedByWaitAndByClose) {
  test::ScopedSession session;
  test::ServerThread server(make_server());
  Server& srv = *server;
  std::atomic<int> got{0};
  server->on(2, [&](Request&) { got.fetch_add(1); });
  server->on(5,
             [&srv](Request& r) { ASSERT_TRUE(srv.send(r.connection(), 6, as_bytes("pushed"))); });
  server.start();
  {
    auto client = Client::connect();
    ASSERT_TRUE(client) << client.error().message();
    ASSERT_TRUE(client->send(5, {}, Publish::later));
    std::vector<std::string> pushed;
    auto n = client->wait([&](const Message& m) { pushed.emplace_back(m.text()); }, 5s);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(pushed, std::vector<std::string>{"pushed"})
        << "wait() did not publish the staged message";
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(client->send(2, as_bytes("m"), Publish::later));
  }  // closed with 300 staged: they are published, and served
  test::wait_for([&] { return got.load() == 300; });
  EXPECT_EQ(got.load(), 300);
}

TEST(ServerClient, ServerPushesReachPollAndWait) {
  test::ScopedSession session;
  test::ServerThread server(make_server());
  Server& srv = *server;
  server->on(3, [&srv](Request& r) {
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(srv.send(r.connection(), 9, as_bytes("push " + std::to_string(i))));
    }
    ASSERT_TRUE(r.reply(as_bytes("done")));
  });
  server.start();
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  // The pushes arrive before the reply: request() keeps them for poll().
  auto reply = client->request(3, {}, 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "done");
  std::vector<std::string> got;
  auto n = client->poll([&](const Message& m) {
    EXPECT_EQ(m.type, 9);
    got.emplace_back(m.text());
  });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(got, (std::vector<std::string>{"push 0", "push 1", "push 2"}));
  // Nothing more: wait() times out with 0.
  auto none = client->wait([](const Message&) { FAIL(); }, 20ms);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
}

// A FanoutPayload is copied when assigned: what each connection gets is what was assigned,
// whatever happens to the source after, whether the connection compresses or not, and
// whatever the size (its CRC join is prepared again when the size changes).
TEST(ServerClient, AFanoutPayloadReachesEveryConnectionAsAssigned) {
  test::ScopedSession session;
  test::ServerThread server(make_server());
  Server& srv = *server;
  const std::vector<std::size_t> sizes{1000, 10, 0, 5000, 5000};
  std::vector<std::string> sent;
  for (const std::size_t n : sizes) {
    std::string text(n, ' ');
    for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('a' + (i * 7 + n) % 26);
    sent.push_back(text);
  }
  std::vector<ConnectionId> subscribers;
  server->on(3, [&](Request& r) {
    subscribers.push_back(r.connection());
    if (subscribers.size() == 2) {
      FanoutPayload payload;
      for (const std::string& text : sent) {
        std::string source = text;
        payload.assign(as_bytes(source));
        source.assign(source.size(), 'X');  // the copy is what goes out
        for (const ConnectionId to : subscribers) ASSERT_TRUE(srv.send(to, 9, payload));
      }
    }
    ASSERT_TRUE(r.reply({}));
  });
  server.start();
  ClientOptions compressing;
  compressing.compression.codec = Compression::lz4;
  compressing.compression.threshold = 64;
  auto plain = Client::connect();
  auto packed = Client::connect(compressing);
  ASSERT_TRUE(plain && packed);
  ASSERT_TRUE(plain->request(3, {}, 5s));
  ASSERT_TRUE(packed->request(3, {}, 5s));
  for (Client* client : {&*plain, &*packed}) {
    std::vector<std::string> got;
    while (got.size() < sent.size()) {
      auto n = client->wait([&](const Message& m) { got.emplace_back(m.text()); }, 5s);
      ASSERT_TRUE(n) << n.error().message();
      ASSERT_GT(*n, 0u);
    }
    EXPECT_EQ(got, sent);
  }
}

TEST(ServerClient, CompressionIsTransparentBothWays) {
  for (Compression codec : {Compression::lz4, Compression::zstd}) {
    test::ScopedSession session;
    EchoServer echo;
    ClientOptions options;
    options.compression.codec = codec;
    options.compression.threshold = 64;
    auto client = Client::connect(options);
    ASSERT_TRUE(client) << client.error().message();
    std::string big(100000, 'a');
    for (std::size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>('a' + i % 26);
    auto reply = client->request(1, as_bytes(big), 5s);
    ASSERT_TRUE(reply) << reply.error().message();
    std::string upper = big;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(reply->text(), upper) << to_string(codec);
    ASSERT_TRUE(client->send(2, as_bytes(big)));
    ASSERT_TRUE(client->request(1, as_bytes("sync"), 5s));
    EXPECT_EQ(echo.bytes.load(), big.size()) << "the handler sees the decompressed payload";
  }
}

TEST(ServerClient, MissingEndpointNamesThePath) {
  test::ScopedSession session;
  ClientOptions options;
  options.endpoint = "nobody";
  auto client = Client::connect(options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.code(), Errc::not_found);
  EXPECT_NE(client.error().message().find("nobody"), std::string::npos) << client.error().message();
  // With the session directory there but no socket, the message names the socket path.
  EchoServer echo;
  client = Client::connect(options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.code(), Errc::not_found);
  EXPECT_NE(client.error().message().find(session.dir()), std::string::npos)
      << client.error().message();
  EXPECT_NE(client.error().message().find("nobody.sock"), std::string::npos)
      << client.error().message();
}

TEST(ServerClient, SecondServerOnTheSameEndpointIsRefused) {
  test::ScopedSession session;
  EchoServer echo;
  auto second = Server::create({});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.code(), Errc::exists);
  EXPECT_NE(second.error().message().find("bus.sock"), std::string::npos);
}

// A Server is a value: moved (constructed, then assigned) after its handlers were set and
// while a client is connected, it serves that client with those handlers. Nothing points
// back at the Server object the moves leave behind (the first is freed: ASan would see a
// use of it), and assigning shuts down the endpoint the target held.
TEST(ServerClient, AMovedServerKeepsItsHandlersAndConnections) {
  test::ScopedSession session;
  // On the heap only so that the Server moved from is freed, not left on the stack.
  auto first = std::make_unique<Server>(make_server());
  std::atomic<int> handled{0};
  std::atomic<int> connected{0};
  first->on(1, [&handled](Request& r) {
    handled.fetch_add(1);
    (void)r.reply(as_bytes(std::string(r.message().text()) + " from " + r.peer().name));
  });
  first->on_connect([&connected](const ConnectionInfo&) { connected.fetch_add(1); });
  ClientOptions early;
  early.name = "early";
  auto client = test::connect_while_serving(*first, early);
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_EQ(first->connection_count(), 1u);

  Server moved(std::move(*first));
  first.reset();
  ServerOptions other;
  other.endpoint = "other";
  Server assigned = make_server(other);
  const std::string other_path = assigned.socket_path();
  assigned = std::move(moved);
  EXPECT_FALSE(std::filesystem::exists(other_path)) << "the endpoint assigned over still listens";
  EXPECT_EQ(assigned.connection_count(), 1u);

  test::ServerThread running(std::move(assigned));
  running.start();
  auto reply = client->request(1, "ping", 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "ping from early");
  auto late = Client::connect();  // the on_connect set before the moves sees it
  ASSERT_TRUE(late) << late.error().message();
  ASSERT_TRUE(late->request(1, "again", 5s));
  running.stop();
  EXPECT_EQ(handled.load(), 2);
  EXPECT_EQ(connected.load(), 2);
}

// A moved-from Server may be destroyed (its endpoint, now another Server's, stays) and
// assigned to, whether from another Server or a new one.
TEST(ServerClient, AMovedFromServerCanBeDestroyedAndAssignedTo) {
  test::ScopedSession session;
  std::optional<Server> source(make_server());
  const std::string path = source->socket_path();
  Server keeper(std::move(*source));
  source.reset();
  EXPECT_TRUE(std::filesystem::exists(path)) << "destroying a moved-from Server closed " << path;
  Server emptied(std::move(keeper));
  keeper = std::move(emptied);
  ServerOptions second;
  second.endpoint = "second";
  emptied = make_server(second);
  EXPECT_NE(emptied.socket_path().find("second.sock"), std::string::npos) << emptied.socket_path();
  EXPECT_EQ(keeper.socket_path(), path);
  keeper.on(1, [](Request& r) { (void)r.reply(r.payload()); });
  test::ServerThread running(std::move(keeper));
  running.start();
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  auto reply = client->request(1, "still served", 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "still served");
}

// A client the server cuts off is told why (the goodbye in its connection segment): by
// Server::disconnect() with a reason, and when the server stops.
TEST(ServerClient, ACutOffClientIsToldWhy) {
  test::ScopedSession session;
  test::ServerThread server(make_server());
  Server& srv = *server;
  server->on(9, [&srv](Request& r) { srv.disconnect(r.connection(), "you asked for it"); });
  server->on(1, [](Request& r) { (void)r.reply(r.payload()); });
  server.start();
  ClientOptions options;
  options.reconnect = false;
  auto client = Client::connect(options);
  ASSERT_TRUE(client) << client.error().message();
  auto reply = client->request(9, as_bytes("bye?"), 5s);
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.code(), Errc::disconnected);
  EXPECT_NE(reply.error().message().find("you asked for it"), std::string::npos)
      << reply.error().message();
  auto again = client->request(1, as_bytes("and now?"), 5s);
  EXPECT_NE(again.error().message().find("you asked for it"), std::string::npos)
      << again.error().message();

  auto other = Client::connect(options);
  ASSERT_TRUE(other) << other.error().message();
  ASSERT_TRUE(other->request(1, as_bytes("hi"), 5s));
  server.reset();
  auto after = other->request(1, as_bytes("still there?"), 5s);
  ASSERT_FALSE(after);
  EXPECT_NE(after.error().message().find("the server stopped"), std::string::npos)
      << after.error().message();
}

// A handler that throws: the requester gets an error reply saying so, the server goes on
// and counts it.
TEST(ServerClient, AHandlerThatThrowsFailsOnlyItsRequest) {
  test::ScopedSession session;
  test::ServerThread server(make_server());
  server->on(3, [](Request&) { throw std::runtime_error("no such account"); });
  server->on(4, [](Request&) { throw 42; });
  server->on(1, [](Request& r) { (void)r.reply(r.payload()); });
  server.start();
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  auto failed = client->request(3, as_bytes("account 7"), 5s);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.code(), Errc::remote);
  EXPECT_NE(failed.error().message().find("failed: no such account"), std::string::npos)
      << failed.error().message();
  auto odd = client->request(4, {}, 5s);
  EXPECT_NE(odd.error().message().find("not a std::exception"), std::string::npos)
      << odd.error().message();
  ASSERT_TRUE(client->send(3, as_bytes("one-way")));  // no reply to give: only counted
  auto fine = client->request(1, as_bytes("still here"), 5s);
  ASSERT_TRUE(fine) << fine.error().message();
  EXPECT_EQ(fine->text(), "still here");
  EXPECT_EQ(server->stats().handler_errors, 3u);
}

// When the loop cannot go on (here: its epoll descriptor replaced under it), run_once()
// says so instead of returning success, so run() does not spin.
TEST(ServerClient, ALoopThatCannotWaitReturnsTheError) {
  test::ScopedSession session;
  auto server = make_server();
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(null, 0);
  ASSERT_EQ(::dup2(null, server.fd()), server.fd());
  ::close(null);
  auto r = server.run_once(10ms);
  ASSERT_FALSE(r) << "run_once() succeeded without an epoll descriptor";
  EXPECT_NE(r.error().message().find("epoll_wait"), std::string::npos) << r.error().message();
  EXPECT_FALSE(server.run()) << "run() did not return the error";
}

Server* g_stopped_by_signal = nullptr;
void stop_on_signal(int) {
  g_stopped_by_signal->stop();
}

// stop() from a signal handler installed with SA_RESTART (as daemons do) ends run(), which
// sleeps in epoll_wait meanwhile; the handler only stores a flag and writes an eventfd that
// no client holds.
TEST(ServerClient, StopFromASignalHandlerEndsRun) {
  test::ScopedSession session;
  auto server = make_server();
  server.on(1, [](Request& r) { (void)r.reply(r.payload()); });
  g_stopped_by_signal = &server;
  struct sigaction sa {};
  sa.sa_handler = stop_on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  test::Watchdog watchdog(30s, "stop() from a signal handler");
  std::atomic<bool> returned{false};
  std::thread loop([&] {
    EXPECT_TRUE(server.run());
    returned = true;
  });
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_TRUE(client->request(1, as_bytes("running"), 5s));  // run() is serving
  std::this_thread::sleep_for(20ms);                         // and now sleeps
  ASSERT_EQ(::pthread_kill(loop.native_handle(), SIGUSR1), 0);
  loop.join();
  EXPECT_TRUE(returned.load());
  ::sigaction(SIGUSR1, &old, nullptr);
}

TEST(ServerClient, RefusedCredentialsNameTheCause) {
  test::ScopedSession session;
  ServerOptions options;
  options.allow_own_user = false;
  EchoServer echo(options);
  auto client = Client::connect();
  ASSERT_FALSE(client);
  EXPECT_EQ(client.code(), Errc::permission);
  EXPECT_NE(client.error().message().find("refused"), std::string::npos)
      << client.error().message();
  EXPECT_NE(client.error().message().find("allow"), std::string::npos);
  echo.server.stop();
  EXPECT_EQ(echo.server->stats().active, 0u);
  EXPECT_EQ(echo.server->stats().rejected, 1u);
  EXPECT_EQ(echo.server->stats().rejected_credentials, 1u);
}

TEST(ServerClient, FullServerSaysSo) {
  test::ScopedSession session;
  ServerOptions options;
  options.max_connections = 2;
  EchoServer echo(options);
  auto a = Client::connect();
  auto b = Client::connect();
  ASSERT_TRUE(a && b);
  auto c = Client::connect();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.code(), Errc::busy);
  EXPECT_NE(c.error().message().find("is full"), std::string::npos) << c.error().message();
  EXPECT_NE(c.error().message().find("max_connections 2"), std::string::npos);
  // A slot frees when a client leaves (once the server noticed: try until then).
  a->close();
  test::wait_for([&] {
    c = Client::connect();
    return c.ok();
  });
  EXPECT_TRUE(c) << c.error().message();
  echo.server.stop();  // its counters are its thread's until then
  EXPECT_GE(echo.server->stats().rejected_full, 1u);
  EXPECT_EQ(echo.server->stats().rejected, echo.server->stats().rejected_full);
}

TEST(ServerClient, BadRingSizeIsRefused) {
  test::ScopedSession session;
  EchoServer echo;
  ClientOptions options;
  options.ring_capacity = 5000;
  auto client = Client::connect(options);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.code(), Errc::invalid_argument);
  EXPECT_NE(client.error().message().find("5000"), std::string::npos) << client.error().message();
  echo.server.stop();
  EXPECT_EQ(echo.server->stats().rejected_malformed, 1u);
}

// A client of another protocol version, speaking raw handshake bytes.
TEST(ServerClient, VersionMismatchIsExplained) {
  test::ScopedSession session;
  EchoServer echo;
  const std::string path = echo.server->socket_path();
  auto sock = detail::connect_seqpacket(path, 1000ms);
  ASSERT_TRUE(sock) << sock.error().message();
  detail::Hello hello;
  hello.name = "old";
  auto bytes = detail::encode_hello(hello);
  bytes[4] = std::byte{9};  // version 9
  ASSERT_TRUE(detail::send_message(sock->get(), bytes));
  std::array<std::byte, detail::kWelcomeSize> buf{};
  auto got = detail::recv_message(sock->get(), buf, 2000ms);
  ASSERT_TRUE(got) << got.error().message();
  auto welcome = detail::decode_welcome(std::span<const std::byte>(buf.data(), got->size));
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->status, detail::WelcomeStatus::bad_version);
  EXPECT_NE(welcome->message.find("version 9"), std::string::npos) << welcome->message;
  EXPECT_NE(welcome->message.find("version " + std::to_string(detail::kProtocolVersion)),
            std::string::npos)
      << welcome->message;
  EXPECT_TRUE(got->fds.empty());
  echo.server.stop();
  EXPECT_EQ(echo.server->stats().rejected_version, 1u);
  EXPECT_EQ(echo.server->stats().rejected, 1u);
}

TEST(ServerClient, ServerGoingAwayEndsWaitsAtOnce) {
  for (WaitStrategy strategy : {WaitStrategy::spin, WaitStrategy::block, WaitStrategy::hybrid}) {
    test::ScopedSession session;
    auto echo = std::make_unique<EchoServer>();
    ClientOptions options;
    options.wait.strategy = strategy;
    auto client = Client::connect(options);
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->request(1, as_bytes("x"), 5s));
    echo.reset();  // stops the thread and closes every connection
    const test::Lateness lateness;
    const test::Stopwatch asking(lateness);
    auto r = client->request(1, as_bytes("y"), kForever);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.code(), Errc::disconnected) << r.error().message();
    EXPECT_NE(r.error().message().find("bus.sock"), std::string::npos) << r.error().message();
    EXPECT_LT(asking.unexplained_ms(), 2000) << to_string(strategy);
    EXPECT_FALSE(client->connected());
  }
}

TEST(ServerClient, ClientLeavingIsSeenAndItsMessagesServed) {
  test::ScopedSession session;
  auto server = make_server();
  std::atomic<int> got{0};
  std::atomic<int> gone{0};
  server.on(2, [&](Request&) { got.fetch_add(1); });
  server.on_disconnect([&](const ConnectionInfo& info, DisconnectReason why) {
    EXPECT_EQ(why, DisconnectReason::closed);
    EXPECT_EQ(info.name, "leaver");
    gone.fetch_add(1);
  });
  test::ServerThread thread(std::move(server));
  thread.start();
  {
    ClientOptions options;
    options.name = "leaver";
    auto client = Client::connect(options);
    ASSERT_TRUE(client);
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(client->send(2, as_bytes("m")));
  }  // closes without waiting: the server still serves all 500
  test::wait_for([&] { return gone.load() != 0; });
  thread.stop();
  EXPECT_EQ(gone.load(), 1);
  EXPECT_EQ(got.load(), 500);
  EXPECT_EQ(thread->stats().lost, 1u);
  EXPECT_EQ(thread->connection_count(), 0u);
}

// Both sides driven from loops of the application's own: poll() on the descriptors the
// Server and Client expose, after prepare_wait() announced that they sleep.
TEST(ServerClient, DrivenFromTheApplicationsOwnPollLoop) {
  test::ScopedSession session;
  auto server = make_server();
  server.on(1, [](Request& r) { (void)r.reply(r.payload()); });
  std::atomic<bool> done{false};
  std::atomic<int> sleeps{0};
  std::atomic<int> wakes{0};
  std::thread loop([&] {
    while (!done.load()) {
      ASSERT_TRUE(server.run_once(std::chrono::nanoseconds(0)));
      if (server.prepare_wait()) {
        sleeps.fetch_add(1);
        pollfd p{server.fd(), POLLIN, 0};
        if (::poll(&p, 1, 1000) > 0) wakes.fetch_add(1);
      }
    }
  });
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    // Pace the requests so that the server loop really goes to sleep in between.
    std::this_thread::sleep_for(200us);
    auto reply = client->request(1, as_bytes("ping " + std::to_string(i)), 5s);
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->text(), "ping " + std::to_string(i));
  }
  done = true;
  server.stop();  // wakes the poll
  loop.join();
  EXPECT_GT(wakes.load(), 0) << "the loop never slept on fd()";
  // Each request wakes the loop about once (and a spurious wake-up now and then is fine);
  // a descriptor that stays readable after run_once() would make the loop spin instead.
  EXPECT_LE(wakes.load(), 3 * kRequests)
      << "fd() woke the loop " << wakes.load() << " times for " << kRequests << " requests ("
      << sleeps.load() << " sleeps)";
}

TEST(ServerClient, ClientFdWakesAnExternalLoop) {
  test::ScopedSession session;
  test::ServerThread server(make_server());
  Server& srv = *server;
  server->on(5, [&srv](Request& r) { (void)srv.send(r.connection(), 6, as_bytes("pushed")); });
  server.start();
  auto client = Client::connect();
  ASSERT_TRUE(client);
  // Armed: nothing waiting yet, so the client may sleep on its descriptor.
  ASSERT_TRUE(client->prepare_wait());
  ASSERT_TRUE(client->send(5, {}));  // the server answers with a push
  pollfd p{client->fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "fd() did not become readable";
  std::vector<std::string> got;
  auto n = client->poll([&](const Message& m) { got.emplace_back(m.text()); });
  ASSERT_TRUE(n);
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(got.front(), "pushed");
}

// Records client connection `id` has put in its ring to this process's server, as the
// server's stat segment shows them (0 while it shows none).
std::uint64_t records_sent_by(ConnectionId id) {
  auto servers = read_process_stat(0);
  if (!servers) return 0;
  for (const EndpointStat& e : *servers) {
    for (const ConnectionStat& c : e.connections) {
      if (c.id == id) return c.in.records_sent;
    }
  }
  return 0;
}

// A client with a long backlog in its ring must not hold up the others: the server serves
// at most `batch` messages of one connection per turn. The backlog is built while the
// server is held in a handler, so the test does not depend on who runs faster (it runs
// under TSan too). `batch` is a parameter so that the test can show it fails without
// the bound.
void starvation_check(std::uint32_t batch, bool expect_served) {
  test::ScopedSession session;
  ServerOptions options;
  options.batch = batch;
  test::ServerThread server(make_server(options));
  constexpr int kBacklog = 5000;
  std::atomic<bool> open{false};
  std::atomic<int> flooded{0};
  server->on(2, [&](Request&) {
    while (!open.load()) std::this_thread::sleep_for(100us);
    const auto until = std::chrono::steady_clock::now() + 20us;  // a slow handler
    while (std::chrono::steady_clock::now() < until) {
    }
    flooded.fetch_add(1);
  });
  server->on(1, [](Request& r) { (void)r.reply(as_bytes("ok")); });
  server.start();
  auto b = Client::connect();
  ASSERT_TRUE(b) << b.error().message();
  auto a = Client::connect();
  ASSERT_TRUE(a) << a.error().message();
  const std::string payload(64, 'f');
  for (int i = 0; i < kBacklog; ++i) ASSERT_TRUE(a->send(2, as_bytes(payload)));
  const ConnectionId b_id = b->id();
  int served = 0;
  int flooded_when_served = kBacklog;  // how many of a's were handled before b's first reply
  std::thread requests([&] {
    for (int i = 0; i < 20; ++i) {
      if (b->request(1, as_bytes("me too"), expect_served ? 5s : 30ms)) {
        if (++served == 1) flooded_when_served = flooded.load();
      }
    }
  });
  // b's first request waits behind a's backlog: its ring says it was sent.
  EXPECT_TRUE(test::wait_for([&] { return records_sent_by(b_id) >= 1; }))
      << "b's first request never reached its ring";
  open = true;
  requests.join();
  if (expect_served) {
    EXPECT_EQ(served, 20);
    EXPECT_LT(flooded_when_served, kBacklog) << "b waited for a's whole backlog";
  } else {
    EXPECT_LT(served, 20) << "an unbounded batch should have starved the second client";
  }
  open = true;
}

TEST(ServerClient, ABusyClientCannotStarveOthers) {
  starvation_check(64, true);
}

TEST(ServerClient, WithoutTheBatchBoundTheStarvationTestFails) {
  starvation_check(1u << 30, false);
}

}  // namespace
}  // namespace ferry
