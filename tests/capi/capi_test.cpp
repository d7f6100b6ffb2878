// SPDX-License-Identifier: Apache-2.0
// The C interface (include/ferry/ferry.h) as a C program sees it: this binary links
// libferry-c alone, never the C++ library. A C server on a thread, C clients in the test;
// every way a caller can get it wrong gets a status and a message naming the mistake.
#include "ferry/ferry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "support/endpoint_support.hpp"  // ScopedSession only: header code, no C++ library

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

std::string last_error() {
  return ferry_last_error();
}

std::string text(const ferry_message* m) {
  return {static_cast<const char*>(m->payload), m->size};
}

// A C server on its own endpoint, run on a thread: type 1 echoes, type 2 answers with an
// error reply, type 3 fails, type 4 never answers, type 5 pushes a message of type 9 to
// the requester's connection before its empty reply.
class CServer {
 public:
  explicit CServer(const char* endpoint) {
    ferry_server_options o;
    ferry_server_options_init(&o);
    o.endpoint = endpoint;
    o.wait = FERRY_WAIT_BLOCK;
    EXPECT_EQ(ferry_server_create(&o, &server_), FERRY_OK) << last_error();
    ferry_server_on(server_, 1, &CServer::echo, this);
    ferry_server_on(server_, 2, &CServer::refuse, this);
    ferry_server_on(server_, 3, &CServer::fail, this);
    ferry_server_on(server_, 4, &CServer::ignore, this);
    ferry_server_on(server_, 5, &CServer::push, this);
    thread_ = std::thread([this] { run_status_ = ferry_server_run(server_); });
  }
  ~CServer() {
    ferry_server_stop(server_);
    thread_.join();
    EXPECT_EQ(run_status_, FERRY_OK);
    ferry_server_destroy(server_);
  }
  CServer(const CServer&) = delete;
  CServer& operator=(const CServer&) = delete;
  ferry_server* get() { return server_; }
  // Read after a reply that the server sent after it (the ring orders the two).
  const std::string& last_ignored() const { return last_ignored_; }

 private:
  static void echo(void* /*self*/, ferry_request* r) {
    const ferry_message* m = ferry_request_message(r);
    ferry_request_reply(r, m->payload, m->size);
  }
  static void refuse(void* /*self*/, ferry_request* r) {
    ferry_request_reply_error(r, "no, thank you");
  }
  static void fail(void* /*self*/, ferry_request* r) { ferry_request_fail(r, "the disk is full"); }
  static void ignore(void* self, ferry_request* r) {
    static_cast<CServer*>(self)->last_ignored_ = text(ferry_request_message(r));
  }
  // On the server's thread, as every call of a server must be.
  static void push(void* self, ferry_request* r) {
    ferry_server* s = static_cast<CServer*>(self)->server_;
    EXPECT_EQ(ferry_server_send(s, ferry_request_connection(r), 9, "push", 4), FERRY_OK)
        << last_error();
    ferry_request_reply(r, nullptr, 0);
  }
  ferry_server* server_ = nullptr;
  std::thread thread_;
  std::atomic<int> run_status_{-1};
  std::string last_ignored_;
};

ferry_client* connect(const char* endpoint) {
  ferry_client_options o;
  ferry_client_options_init(&o);
  o.endpoint = endpoint;
  o.wait = FERRY_WAIT_BLOCK;
  ferry_client* c = nullptr;
  EXPECT_EQ(ferry_client_connect(&o, &c), FERRY_OK) << last_error();
  return c;
}

struct Received {
  std::vector<std::string> texts;
  std::vector<std::uint32_t> correlations;
  std::vector<std::uint8_t> flags;
};
void collect(void* user, const ferry_message* m) {
  auto* r = static_cast<Received*>(user);
  r->texts.push_back(text(m));
  r->correlations.push_back(m->correlation);
  r->flags.push_back(m->flags);
}

TEST(CApi, VersionAndStatusNames) {
  EXPECT_STREQ(ferry_version(), FERRY_VERSION_STRING);
  EXPECT_EQ(ferry_version_number(), static_cast<std::uint32_t>(FERRY_VERSION_NUMBER));
  EXPECT_STREQ(ferry_status_name(FERRY_TIMED_OUT), "timed_out");
  EXPECT_STREQ(ferry_status_name(FERRY_REMOTE), "remote");
  EXPECT_STREQ(ferry_status_name(99), "unknown");
  EXPECT_STREQ(ferry_status_name(-1), "unknown");
}

TEST(CApi, RequestsRepliesAndErrorReplies) {
  ferry::test::ScopedSession session;
  CServer server("c-api");
  ferry_client* c = connect("c-api");
  ASSERT_NE(c, nullptr);

  ferry_reply reply;
  ASSERT_EQ(ferry_client_request(c, 1, "hello", 5, 5 * kSecond, &reply), FERRY_OK) << last_error();
  EXPECT_EQ(reply.type, 1);
  EXPECT_EQ(std::string(static_cast<const char*>(reply.payload), reply.size), "hello");
  ferry_reply_free(&reply);
  EXPECT_EQ(reply.payload, nullptr);

  // An empty reply still has a payload pointer a C caller may pass on.
  ASSERT_EQ(ferry_client_request(c, 1, nullptr, 0, 5 * kSecond, &reply), FERRY_OK);
  EXPECT_EQ(reply.size, 0U);
  EXPECT_NE(reply.payload, nullptr);
  ferry_reply_free(&reply);

  EXPECT_EQ(ferry_client_request(c, 2, "x", 1, 5 * kSecond, &reply), FERRY_REMOTE);
  EXPECT_EQ(last_error(), "no, thank you");
  EXPECT_EQ(reply.payload, nullptr);

  // ferry_request_fail(): the error reply names the type, the socket and the failure.
  EXPECT_EQ(ferry_client_request(c, 3, "x", 1, 5 * kSecond, &reply), FERRY_REMOTE);
  EXPECT_NE(last_error().find("failed: the disk is full"), std::string::npos) << last_error();
  EXPECT_NE(last_error().find(ferry_server_socket_path(server.get())), std::string::npos)
      << last_error();

  EXPECT_EQ(ferry_client_request(c, 4, "x", 1, 50'000'000, &reply), FERRY_TIMED_OUT);
  EXPECT_NE(last_error().find("50"), std::string::npos) << last_error();
  ferry_client_close(c);
}

TEST(CApi, SendRequestPollZeroCopyAndServerPush) {
  ferry::test::ScopedSession session;
  CServer server("c-api");
  ferry_client* c = connect("c-api");
  ASSERT_NE(c, nullptr);

  std::uint32_t corr = 0;
  ASSERT_EQ(ferry_client_send_request(c, 1, "async", 5, &corr), FERRY_OK) << last_error();
  EXPECT_NE(corr, 0U);
  Received got;
  std::size_t handled = 0;
  ASSERT_EQ(ferry_client_wait(c, collect, &got, 5 * kSecond, &handled), FERRY_OK);
  ASSERT_EQ(handled, 1U);
  EXPECT_EQ(got.texts.at(0), "async");
  EXPECT_EQ(got.correlations.at(0), corr);
  EXPECT_NE(got.flags.at(0) & FERRY_FLAG_REPLY, 0);

  // Zero-copy: a one-way message of type 4 written in place; the request of type 5 after it
  // is served after it (the ring is in order), and its push comes before its reply.
  void* room = nullptr;
  ASSERT_EQ(ferry_client_reserve(c, 8, &room), FERRY_OK) << last_error();
  ASSERT_NE(room, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(room) % 8, 0U);
  std::memcpy(room, "in place", 8);
  ASSERT_EQ(ferry_client_commit(c, 8, 4), FERRY_OK) << last_error();
  ferry_reply reply;
  ASSERT_EQ(ferry_client_request(c, 5, nullptr, 0, 5 * kSecond, &reply), FERRY_OK) << last_error();
  ferry_reply_free(&reply);
  EXPECT_EQ(server.last_ignored(), "in place");

  // The push that arrived while request() waited is kept for poll.
  got = {};
  ASSERT_EQ(ferry_client_poll(c, collect, &got, SIZE_MAX, &handled), FERRY_OK);
  ASSERT_EQ(handled, 1U);
  EXPECT_EQ(got.texts.at(0), "push");
  EXPECT_EQ(got.flags.at(0), 0);

  EXPECT_GE(ferry_client_fd(c), 0);
  EXPECT_EQ(ferry_client_links(c), 1U);
  EXPECT_TRUE(ferry_client_connected(c));
  ferry_client_close(c);
}

// Type 4 is the server's ignore(), which keeps the last text: the batch arrives in order.
TEST(CApi, SendBatchSendsInOrderAndSaysHowManyWent) {
  ferry::test::ScopedSession session;
  CServer server("c-api");
  ferry_client* c = connect("c-api");
  ASSERT_NE(c, nullptr);
  std::vector<ferry_outgoing> batch = {{4, "one", 3}, {4, "two", 3}, {4, "three", 5}};
  std::size_t sent = 99;
  ASSERT_EQ(ferry_client_send_batch(c, batch.data(), batch.size(), &sent), FERRY_OK)
      << last_error();
  EXPECT_EQ(sent, 3U);
  ferry_reply reply;
  ASSERT_EQ(ferry_client_request(c, 5, nullptr, 0, 5 * kSecond, &reply), FERRY_OK) << last_error();
  ferry_reply_free(&reply);
  EXPECT_EQ(server.last_ignored(), "three");

  // The second cannot go: the first went, the third was not tried, the error says why.
  const std::vector<char> big(ferry_client_max_payload(c) + 1, 'x');
  batch = {{4, "first", 5}, {4, big.data(), big.size()}, {4, "third", 5}};
  EXPECT_EQ(ferry_client_send_batch(c, batch.data(), batch.size(), &sent), FERRY_TOO_LARGE);
  EXPECT_EQ(sent, 1U);
  EXPECT_NE(last_error().find("exceeds"), std::string::npos) << last_error();
  ASSERT_EQ(ferry_client_request(c, 5, nullptr, 0, 5 * kSecond, &reply), FERRY_OK) << last_error();
  ferry_reply_free(&reply);
  EXPECT_EQ(server.last_ignored(), "first");

  EXPECT_EQ(ferry_client_send_batch(c, nullptr, 0, &sent), FERRY_OK);
  EXPECT_EQ(sent, 0U);
  EXPECT_EQ(ferry_client_send_batch(c, nullptr, 2, &sent), FERRY_INVALID_ARGUMENT);
  EXPECT_EQ(ferry_client_send_batch(nullptr, batch.data(), 1, nullptr), FERRY_INVALID_ARGUMENT);
  ferry_client_close(c);
}

TEST(CApi, CallerMistakesGetAStatusAndAMessage) {
  ferry::test::ScopedSession session;
  ferry_client* c = nullptr;

  // No endpoint: not_found, naming the socket it looked for.
  ferry_client_options o;
  ferry_client_options_init(&o);
  o.endpoint = "nobody-here";
  EXPECT_EQ(ferry_client_connect(&o, &c), FERRY_NOT_FOUND);
  EXPECT_EQ(c, nullptr);
  EXPECT_NE(last_error().find("no ferry endpoint 'nobody-here'"), std::string::npos)
      << last_error();

  // An options struct that _init never saw.
  ferry_client_options garbage;
  std::memset(&garbage, 0xff, sizeof garbage);
  EXPECT_EQ(ferry_client_connect(&garbage, &c), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("ferry_client_options_init"), std::string::npos) << last_error();

  ferry_client_options bad_wait;
  ferry_client_options_init(&bad_wait);
  bad_wait.wait = static_cast<ferry_wait_strategy>(3);
  EXPECT_EQ(ferry_client_connect(&bad_wait, &c), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("ferry_client_options.wait is 3"), std::string::npos) << last_error();

  o.connect_timeout_ns = -5;
  EXPECT_EQ(ferry_client_connect(&o, &c), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("negative timeout"), std::string::npos) << last_error();

  EXPECT_EQ(ferry_client_send(nullptr, 1, "x", 1), FERRY_INVALID_ARGUMENT);
  EXPECT_EQ(last_error(), "the client is NULL");
  EXPECT_EQ(ferry_client_connect(nullptr, nullptr), FERRY_INVALID_ARGUMENT);

  CServer server("c-api");
  ferry_server* second = nullptr;
  ferry_server_options so;
  ferry_server_options_init(&so);
  so.endpoint = "c-api";
  EXPECT_EQ(ferry_server_create(&so, &second), FERRY_EXISTS);
  EXPECT_EQ(second, nullptr);
  so.endpoint = "c-api-2";
  so.payload_copy = static_cast<ferry_payload_copy>(3);
  EXPECT_EQ(ferry_server_create(&so, &second), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("payload_copy is 3"), std::string::npos) << last_error();
  EXPECT_EQ(ferry_server_on(server.get(), 7, nullptr, nullptr), FERRY_INVALID_ARGUMENT);

  c = connect("c-api");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(ferry_client_send(c, 1, nullptr, 3), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("NULL payload of 3 bytes"), std::string::npos) << last_error();
  EXPECT_EQ(ferry_client_send(c, 0xff00, "x", 1), FERRY_INVALID_ARGUMENT);

  const std::size_t max = ferry_client_max_payload(c);
  ASSERT_GT(max, 0U);
  std::vector<char> big(max + 1, 'b');
  EXPECT_EQ(ferry_client_send(c, 1, big.data(), big.size()), FERRY_TOO_LARGE);
  EXPECT_NE(last_error().find(std::to_string(max)), std::string::npos) << last_error();

  EXPECT_EQ(ferry_client_commit(c, 4, 1), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("no reservation"), std::string::npos) << last_error();
  void* room = nullptr;
  ASSERT_EQ(ferry_client_reserve(c, 4, &room), FERRY_OK);
  EXPECT_EQ(ferry_client_commit(c, 5, 1), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("a reservation of 4"), std::string::npos) << last_error();
  EXPECT_EQ(ferry_client_commit(c, 4, 0xff01), FERRY_INVALID_ARGUMENT);
  EXPECT_EQ(ferry_client_commit(c, 4, 1), FERRY_OK);
  // A send between the two ends the reservation: the commit is refused (not the ring's abort).
  ASSERT_EQ(ferry_client_reserve(c, 4, &room), FERRY_OK);
  ASSERT_EQ(ferry_client_send(c, 1, "x", 1), FERRY_OK);
  EXPECT_EQ(ferry_client_commit(c, 4, 1), FERRY_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("no reservation"), std::string::npos) << last_error();

  EXPECT_EQ(ferry_client_wait(c, nullptr, nullptr, 0, nullptr), FERRY_INVALID_ARGUMENT);
  // Answering a message that is no request.
  ferry_message not_a_request{};
  not_a_request.type = 1;
  EXPECT_FALSE(ferry_message_is_request(&not_a_request));
  EXPECT_EQ(ferry_client_reply(c, &not_a_request, "x", 1), FERRY_INVALID_ARGUMENT);
  ferry_client_close(c);
  ferry_client_close(nullptr);
  ferry_server_destroy(nullptr);
}

TEST(CApi, TheLastErrorIsPerThread) {
  EXPECT_EQ(ferry_client_send(nullptr, 1, nullptr, 0), FERRY_INVALID_ARGUMENT);
  std::string other;
  std::thread([&] { other = ferry_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_EQ(last_error(), "the client is NULL");
}

TEST(CApi, ServerDrivenFromItsFd) {
  ferry::test::ScopedSession session;
  ferry_server_options o;
  ferry_server_options_init(&o);
  o.endpoint = "c-loop";
  // What the handler sees, on the thread that drives the server (the only one that may call
  // it); the test reads it after that thread is joined.
  struct Seen {
    ferry_server* server = nullptr;
    std::size_t connections = 0;
  } seen;
  ASSERT_EQ(ferry_server_create(&o, &seen.server), FERRY_OK) << last_error();
  ferry_server_on(
      seen.server, 1,
      [](void* user, ferry_request* r) {
        auto* seen_here = static_cast<Seen*>(user);
        const ferry_message* m = ferry_request_message(r);
        EXPECT_TRUE(ferry_message_is_request(m));
        EXPECT_GT(ferry_request_peer_pid(r), 0);
        seen_here->connections = ferry_server_connection_count(seen_here->server);
        ferry_request_reply(r, m->payload, m->size);
      },
      &seen);
  EXPECT_GE(ferry_server_fd(seen.server), 0);
  std::atomic<bool> done{false};
  std::thread loop([&] {
    while (!done) ferry_server_run_once(seen.server, 10'000'000);
  });
  ferry_client* c = connect("c-loop");
  ferry_reply reply{};
  const int status =
      c != nullptr ? ferry_client_request(c, 1, "turn", 4, 5 * kSecond, &reply) : FERRY_SYSTEM;
  ferry_client_close(c);
  done = true;
  loop.join();
  ASSERT_EQ(status, FERRY_OK) << last_error();
  EXPECT_EQ(std::string(static_cast<const char*>(reply.payload), reply.size), "turn");
  ferry_reply_free(&reply);
  EXPECT_EQ(seen.connections, 1U);
  ferry_server_destroy(seen.server);
}

}  // namespace
