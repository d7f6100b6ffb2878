// SPDX-License-Identifier: Apache-2.0
// ferryd's bus with real processes: publish/subscribe fan-out (32 publishers x 32
// subscribers, every message exactly once, in per-publisher order), requests routed to a
// serving client and their replies routed back, and what requesters see when no client
// serves a type or the serving client dies with the request in hand; a subscriber stopped
// with SIGSTOP holds nobody up for longer than the slow-subscriber timeout (dropped for, or
// disconnected); requests nobody answers expire with an error naming the serving client,
// and a million of them leave ferryd's memory flat.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "ferry/crc32c.hpp"
#include "support/assertions.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/lateness.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
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

// How a serving client answers.
enum class Answer : std::uint8_t {
  reversed,  // with the payload reversed
  die,       // not: it dies (SIGKILL) on its first request
  never,     // not: it takes requests and ignores them
};

// A serving client named "svc": answers type 200 as told, until told to stop (type 201,
// which it subscribes to).
int serve(Shared* shared, Answer answer) {
  ClientOptions o = patient();
  o.name = "svc";
  auto client = Client::connect(o);
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
          if (answer == Answer::die) raise(SIGKILL);
          if (answer == Answer::never) return;
          std::string s(m.text());
          std::reverse(s.begin(), s.end());
          if (!client->reply(m, as_bytes(s))) stop = true;
        },
        30s);
    if (!n || (*n == 0 && answer != Answer::never)) return 32;
  }
  return 0;
}

// Asks the serving client `svc` for `text` reversed: whether the right reply came, saying
// why not otherwise.
::testing::AssertionResult reversed_reply(Client& client, const std::string& text,
                                          std::chrono::nanoseconds timeout) {
  auto reply = client.request(200, as_bytes(text), timeout);
  if (!reply) return ::testing::AssertionFailure() << reply.error().message();
  std::string want = text;
  std::reverse(want.begin(), want.end());
  if (reply->text() != want || reply->type != 200) {
    return ::testing::AssertionFailure() << "got \"" << reply->text() << "\" to \"" << text << "\"";
  }
  return ::testing::AssertionSuccess();
}

TEST(Bus, RequestsRouteToTheServingClientAndRepliesBack) {
  test::ScopedSession session("bus-reqrep");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  test::Watchdog watchdog(120s, "request routing");
  test::SharedBlock block(sizeof(Shared));
  auto* shared = new (block.data()) Shared;
  const pid_t server = test::fork_child([&] { return serve(shared, Answer::reversed); });
  wait_for(shared->ready, 1);
  const std::uint64_t requests = test::scaled(500);
  std::vector<pid_t> requesters;
  for (int r = 0; r < 8; ++r) {
    requesters.push_back(test::fork_child([&, r]() -> int {
      auto client = Client::connect(patient());
      if (!client) return 40;
      for (std::uint64_t i = 0; i < requests; ++i) {
        const std::string q = "req " + std::to_string(r) + " " + std::to_string(i);
        if (auto ok = reversed_reply(*client, q, 10s); !ok) {
          std::fprintf(stderr, "requester %d: %s\n", r, ok.message());
          return 41;
        }
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
  const pid_t server = test::fork_child([&] { return serve(shared, Answer::die); });
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

// A publisher of the same user is read in place, so it can rewrite a publication while
// ferryd fans it out. Here it flips one word of each, from its commit until ferryd has
// taken it, between two values with the same CRC32C (the two differ by the CRC's generator
// polynomial), so that every state passes ferryd's check; every subscriber must still get
// the same bytes for each publication, which ferryd copies once and signs for all.
TEST(Bus, APublicationRewrittenWhileItFansOutReachesEverySubscriberAlike) {
  test::ScopedSession session("bus-rewrite");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  test::Watchdog watchdog(120s, "rewritten publications");
  constexpr std::uint16_t kType = 7;
  constexpr std::size_t kWords = 32;
  constexpr std::size_t kFlipped = 5;  // the word rewritten
  constexpr std::uint64_t kFlip =
      std::uint64_t{0x1'05EC'76F1};  // x^32 + the polynomial, as CRC32C reads it
  const auto value = [](int i, std::size_t k) {
    return static_cast<std::uint64_t>(i) * std::uint64_t{0x9E37'79B9} + k;
  };
  const auto crc_of = [](const std::array<std::uint64_t, kWords>& words) {
    return crc32c(words.data(), sizeof words);
  };
  std::array<std::uint64_t, kWords> probe{};
  probe.fill(0x0123'4567'89ab'cdefull);
  const std::uint32_t before = crc_of(probe);
  probe[kFlipped] ^= kFlip;
  ASSERT_EQ(crc_of(probe), before) << "the flip must not change the CRC";

  const int count = static_cast<int>(test::scaled(2000));
  auto publisher = Client::connect(patient());
  ASSERT_TRUE(publisher) << publisher.error().message();
  using Words = std::array<std::uint64_t, kWords>;
  std::vector<std::vector<Words>> got(2);
  std::vector<std::thread> subscribers;
  std::atomic<int> subscribed{0};
  std::atomic<bool> failed{false};
  for (std::vector<Words>& mine : got) {
    subscribers.emplace_back([&, out = &mine] {
      auto client = Client::connect(patient());
      if (!client || !client->subscribe(kType)) {
        failed = true;
        subscribed.fetch_add(1);
        return;
      }
      subscribed.fetch_add(1);
      while (out->size() < static_cast<std::size_t>(count)) {
        auto n = client->wait(
            [&](const Message& m) {
              Words w{};
              std::memcpy(w.data(), m.payload.data(), std::min(sizeof w, m.payload.size()));
              out->push_back(w);
            },
            10s);
        if (!n || *n == 0) {
          std::fprintf(stderr, "subscriber: %s\n",
                       n ? "nothing for 10 s" : n.error().message().c_str());
          failed = true;
          return;
        }
      }
    });
  }
  wait_for(subscribed, 2);
  for (int i = 0; i < count; ++i) {
    auto room = publisher->reserve(sizeof(Words));
    ASSERT_TRUE(room) << room.error().message();
    Words w{};
    for (std::size_t k = 0; k < kWords; ++k) w[k] = value(i, k);
    std::memcpy(room->data(), w.data(), sizeof w);
    publisher->commit(sizeof w, kType);
    std::atomic_ref<std::uint64_t> word(
        *reinterpret_cast<std::uint64_t*>(room->data() + 8 * kFlipped));
    // Until ferryd has taken it (and fanned it out): then the rewrites overlap its copies.
    while (publisher->acknowledged() < static_cast<std::uint64_t>(i) + 1) {
      word.store(word.load(std::memory_order_relaxed) ^ kFlip, std::memory_order_relaxed);
    }
  }
  for (std::thread& t : subscribers) t.join();
  ASSERT_FALSE(failed);
  ASSERT_EQ(got[0].size(), static_cast<std::size_t>(count));
  ASSERT_EQ(got[1].size(), static_cast<std::size_t>(count));
  int differ = 0;
  int flipped = 0;
  for (int i = 0; i < count; ++i) {
    const auto at = static_cast<std::size_t>(i);
    if (got[0][at] != got[1][at]) ++differ;
    if (got[0][at][kFlipped] != value(i, kFlipped)) ++flipped;
  }
  std::printf("%d publications, %d delivered flipped, %d delivered differently\n", count, flipped,
              differ);
  EXPECT_EQ(differ, 0) << "subscribers got different bytes for the same publication";
  EXPECT_GT(flipped, 0) << "no rewrite ever reached a subscriber: the test proves nothing";
}

// A client with echo off (a bridge between buses) does not get its own publications back;
// the others' it does, and its publications still reach the other subscribers.
TEST(Bus, AClientWithEchoOffDoesNotGetItsOwnPublications) {
  test::ScopedSession session("bus-echo");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  ClientOptions quiet;
  quiet.echo = false;
  auto a = Client::connect(quiet);
  auto b = Client::connect();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->subscribe(7));
  ASSERT_TRUE(b->subscribe(7));
  ASSERT_TRUE(a->send(7, as_bytes("from a")));
  ASSERT_TRUE(b->send(7, as_bytes("from b")));
  std::vector<std::string> to_b;
  while (to_b.size() < 2) {
    auto n = b->wait([&](const Message& m) { to_b.emplace_back(m.text()); }, 5s);
    ASSERT_TRUE(n && *n > 0);
  }
  std::sort(to_b.begin(), to_b.end());
  EXPECT_EQ(to_b, (std::vector<std::string>{"from a", "from b"}));
  // b's publication was routed before b got it, a's before b's reply below: both are in
  // a's ring by the time the request returns.
  EXPECT_FALSE(a->request(9, {}, 5s));
  std::vector<std::string> to_a;
  ASSERT_TRUE(a->wait([&](const Message& m) { to_a.emplace_back(m.text()); }, 200ms));
  EXPECT_EQ(to_a, (std::vector<std::string>{"from b"}));
}

// serve() and unserve(): requests reach a serving client until it stops serving; then the
// bus says nobody serves the type.
TEST(Bus, UnserveStopsRequestsComingToAClient) {
  test::ScopedSession session("bus-unserve");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  auto server = Client::connect();
  auto asker = Client::connect();
  ASSERT_TRUE(server && asker);
  ASSERT_TRUE(server->serve(11));
  auto corr = asker->send_request(11, as_bytes("q"));
  ASSERT_TRUE(corr);
  bool answered = false;
  while (!answered) {
    auto n =
        server->wait([&](const Message& m) { answered = server->reply(m, m.payload).ok(); }, 5s);
    ASSERT_TRUE(n && *n > 0);
  }
  ASSERT_TRUE(server->unserve(11));
  auto r = asker->request(11, as_bytes("q"), 5s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("serves"), std::string::npos) << r.error().message();
}

// ---------------------------------------------------------------------------- slow subscribers

constexpr std::uint16_t kTick = 300;                  // to the slow and the keeping-up subscriber
constexpr std::uint16_t kOther = 302;                 // to the keeping-up subscriber only
constexpr std::uint64_t kMarker = ~std::uint64_t{0};  // a tick that asks "are you back?"
constexpr std::size_t kTickSize = 200;

struct SlowScene : Shared {
  std::atomic<int> drained{0};
  std::atomic<int> marker_seen{0};
  std::atomic<std::uint64_t> slow_received{0};
  char lost_reason[512] = {};  // why the slow subscriber's connection was lost, if it was
};

std::vector<std::byte> tick(std::uint64_t seq) {
  std::vector<std::byte> p(kTickSize);
  std::memcpy(p.data(), &seq, sizeof seq);
  test::fill_pattern(std::span<std::byte>(p).subspan(sizeof seq), seq);
  return p;
}

// A tick's sequence number, or nullopt if its bytes are not what was sent.
std::optional<std::uint64_t> tick_seq(const Message& m) {
  std::uint64_t seq = 0;
  if (m.payload.size() != kTickSize) return std::nullopt;
  std::memcpy(&seq, m.payload.data(), sizeof seq);
  if (!test::check_pattern(m.payload.subspan(sizeof seq), seq)) return std::nullopt;
  return seq;
}

// A subscriber of kTick named "slow", with a 16 KiB ring, that does not read until s->go
// (the test stops it with SIGSTOP meanwhile). Then it reads what it has, checking that
// nothing came twice or out of order, stores how many ticks that was and waits for a
// marker (published once it says it has drained its ring; it may have to come back first).
int slow_subscriber(SlowScene* s) {
  ClientOptions o = patient();
  o.name = "slow";
  o.ring_capacity = 16384;
  o.on_link = [s](const LinkEvent& e) {
    if (e.kind == LinkEvent::Kind::lost && s->lost_reason[0] == '\0') {
      std::snprintf(s->lost_reason, sizeof s->lost_reason, "%s", e.reason.c_str());
    }
  };
  auto client = Client::connect(o);
  if (!client) return 50;
  if (!client->subscribe(kTick)) return 51;
  s->ready.fetch_add(1);
  wait_for(s->go, 1);
  std::uint64_t next = 0;
  std::uint64_t received = 0;
  bool bad = false;
  const auto check = [&](const Message& m) {
    const auto seq = tick_seq(m);
    if (seq && *seq == kMarker) {
      s->marker_seen.store(1);
    } else if (!seq || *seq < next) {  // damaged, twice, or out of order
      bad = true;
    } else {
      next = *seq + 1;
      ++received;
    }
  };
  for (;;) {
    auto n = client->wait(check, 500ms);
    if (!n) return 52;
    if (*n == 0) break;
  }
  s->slow_received.store(received);
  s->drained.store(1);
  while (s->marker_seen.load() == 0) {
    auto n = client->wait(check, 10s);
    if (!n || *n == 0) return 53;  // no marker for 10 s: it never came back
  }
  return bad ? 54 : 0;
}

// Subscribes to kTick and kOther and expects `ticks` and `others` of them, each type in
// order, each once.
int keeping_up(SlowScene* s, std::uint64_t ticks, std::uint64_t others) {
  ClientOptions o = patient();
  o.name = "keeping-up";
  auto client = Client::connect(o);
  if (!client) return 60;
  if (!client->subscribe(kTick) || !client->subscribe(kOther)) return 61;
  s->ready.fetch_add(1);
  std::uint64_t next[2] = {0, 0};
  bool bad = false;
  const auto check = [&](const Message& m) {
    const auto seq = tick_seq(m);
    if (seq && *seq == kMarker) return;
    std::uint64_t& want = next[m.type == kTick ? 0 : 1];
    if (!seq || *seq != want) bad = true;
    want = seq.value_or(want) + 1;
  };
  while (next[0] < ticks || next[1] < others) {
    auto n = client->wait(check, 30s);
    if (!n || *n == 0) return 62;
  }
  return bad ? 63 : 0;
}

struct SlowRun {
  std::string log;  // ferryd's
  pid_t slow = 0;
  std::uint64_t ticks = 0;
  std::uint64_t slow_received = 0;  // ticks "slow" got
  std::string lost_reason;          // why its connection was lost, if it was
};

std::int64_t ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// ferryd with `args`, whose slow-subscriber timeout is `timeout`. The subscriber "slow" is
// stopped (SIGSTOP) with a full ring while a publisher with a 16 KiB ring (this process)
// sends ticks, one kOther every ten, and five requests to the serving client among them.
// Nobody else may notice more than the policy's bound: every send and every request done
// within `timeout` and some slack, the keeping-up subscriber gets everything in order. Then
// "slow" is let go, and must receive a marker published after it drained its ring (after
// it came back, when ferryd `disconnects` it; else a timeout later). Call with
// ASSERT_NO_FATAL_FAILURE.
void run_slow_scene(const test::ScopedSession& session, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout, bool disconnects, SlowRun* run) {
  run->log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(run->log, args));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(run->log);
  test::SharedBlock block(sizeof(SlowScene));
  auto* s = new (block.data()) SlowScene;
  run->ticks = std::max<std::uint64_t>(test::scaled(5000), 1000);  // 16 KiB rings hold some 70
  const std::uint64_t others = (run->ticks + 9) / 10;
  const pid_t server = test::fork_child([&] { return serve(s, Answer::reversed); });
  const pid_t keeper = test::fork_child([&] { return keeping_up(s, run->ticks, others); });
  run->slow = test::fork_child([&] { return slow_subscriber(s); });
  wait_for(s->ready, 3);
  ASSERT_EQ(::kill(run->slow, SIGSTOP), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(run->slow, &status, WUNTRACED), run->slow);
  ASSERT_TRUE(WIFSTOPPED(status));

  ClientOptions o;
  o.name = "publisher";
  o.ring_capacity = 16384;
  o.send_timeout = 5s;
  auto publisher = Client::connect(o);
  ASSERT_TRUE(publisher) << publisher.error().message();
  // The policy's bound and slack, beyond what the machine itself held us up (lateness.hpp).
  const std::int64_t bound_ms = ms(timeout + 1500ms);
  const test::Lateness lateness;
  std::int64_t slowest_send = 0;
  std::int64_t slowest_request = 0;
  int answered = 0;
  for (std::uint64_t seq = 0; seq < run->ticks; ++seq) {
    const test::Stopwatch sending(lateness);
    auto sent = publisher->send(kTick, tick(seq));
    if (sent && seq % 10 == 0) sent = publisher->send(kOther, tick(seq / 10));
    slowest_send = std::max(slowest_send, sending.unexplained_ms());
    ASSERT_TRUE(sent) << "publication " << seq << ": " << sent.error().message();
    if (seq % (run->ticks / 5) == run->ticks / 10) {
      const test::Stopwatch asking(lateness);
      const auto ok = reversed_reply(*publisher, "question " + std::to_string(seq), 5s);
      slowest_request = std::max(slowest_request, asking.unexplained_ms());
      EXPECT_TRUE(ok) << "the request after publication " << seq;
      answered += ok ? 1 : 0;
    }
  }
  EXPECT_EQ(answered, 5);
  EXPECT_LT(slowest_send, bound_ms) << "a publication waited for the stopped subscriber";
  EXPECT_LT(slowest_request, bound_ms) << "a request waited for the stopped subscriber";
  std::printf("slowest send %lld ms, slowest request %lld ms (slow-subscriber timeout %lld ms)\n",
              static_cast<long long>(slowest_send), static_cast<long long>(slowest_request),
              static_cast<long long>(timeout.count()));
  EXPECT_EQ(test::wait_child(keeper), 0)
      << "the subscriber that keeps up lost, repeated or reordered messages (60-63)";

  s->go.store(1);
  ASSERT_EQ(::kill(run->slow, SIGCONT), 0);
  wait_for(s->drained, 1);
  // Once its ring has had room for a whole timeout, it is like any subscriber again.
  if (!disconnects) std::this_thread::sleep_for(timeout + 100ms);
  for (int i = 0; i < 500 && s->marker_seen.load() == 0; ++i) {
    ASSERT_TRUE(publisher->send(kTick, tick(kMarker)));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(test::wait_child(run->slow), 0) << "the slow subscriber (50-54)";
  run->slow_received = s->slow_received.load();
  run->lost_reason = s->lost_reason;
  ASSERT_TRUE(publisher->send(201, {}));  // stops the serving client
  EXPECT_EQ(test::wait_child(server), 0);
  EXPECT_EQ(ferryd.stop(), 0);
}

// The one line ferryd logged with `event` (failing the test unless there is exactly one).
nlohmann::json only_event(const std::string& log, std::string_view event) {
  const auto lines = test::log_events(log, event);
  EXPECT_EQ(lines.size(), 1u) << "lines with event " << event << " in:\n" << test::read_file(log);
  return lines.empty() ? nlohmann::json::object() : lines.front();
}

// Checks the one slow_subscriber line ferryd logged, about "slow" and saying `what`, and
// that "slow" got some ticks but not all; returns the totals of ferryd's stopped line.
nlohmann::json expect_one_episode(const SlowRun& run, std::string_view what) {
  const auto slow = only_event(run.log, "slow_subscriber");
  EXPECT_EQ(slow.value("level", ""), "warning");
  EXPECT_EQ(slow.value("name", ""), "slow");
  EXPECT_EQ(slow.value("pid", 0), run.slow);
  EXPECT_NE(slow.value("msg", "").find(what), std::string::npos) << slow;
  EXPECT_GT(run.slow_received, 0u);
  EXPECT_LT(run.slow_received, run.ticks);
  return only_event(run.log, "stopped");
}

// The default policy: a subscriber that never reads holds its publishers back at most the
// slow-subscriber timeout (1 s) once; then what does not fit in its ring is dropped for it,
// counted, and logged once.
TEST(Bus, ASubscriberThatNeverReadsIsDroppedForAndHoldsNobodyUp) {
  test::ScopedSession session("bus-slow-drop");
  test::Watchdog watchdog(120s, "slow subscriber, drop");
  SlowRun run;
  ASSERT_NO_FATAL_FAILURE(run_slow_scene(session, {}, 1000ms, false, &run));
  const auto stopped = expect_one_episode(run, "slow_subscriber = drop");
  EXPECT_EQ(stopped.value("slow_subscribers_dropped_for", 0), 1) << stopped;
  EXPECT_EQ(stopped.value("slow_subscribers_disconnected", 0), 0) << stopped;
  // Every tick reached "slow" or was counted as dropped for it.
  const auto dropped = stopped.value("deliveries_dropped", std::uint64_t{0});
  EXPECT_EQ(dropped + run.slow_received, run.ticks) << stopped;
  // The marker, a timeout after it drained its ring, ended the episode.
  const auto recovered = only_event(run.log, "slow_subscriber_recovered");
  EXPECT_EQ(recovered.value("name", ""), "slow");
  EXPECT_EQ(recovered.value("count", std::uint64_t{0}), dropped) << recovered;
}

// slow_subscriber = disconnect: the subscriber is disconnected instead, counted and logged
// once, and its client comes back by itself once it runs again.
TEST(Bus, ASubscriberThatNeverReadsCanBeDisconnectedAndComesBack) {
  test::ScopedSession session("bus-slow-disconnect");
  test::Watchdog watchdog(120s, "slow subscriber, disconnect");
  SlowRun run;
  ASSERT_NO_FATAL_FAILURE(run_slow_scene(
      session, {"--slow-subscriber", "disconnect", "--slow-subscriber-timeout-ms", "200"}, 200ms,
      true, &run));
  // (Its ticks: what was in its ring when it was disconnected.)
  const auto stopped = expect_one_episode(run, "disconnected (slow_subscriber = disconnect)");
  EXPECT_EQ(stopped.value("slow_subscribers_disconnected", 0), 1) << stopped;
  EXPECT_EQ(stopped.value("deliveries_dropped", 0), 0) << stopped;
  // Its client was told why.
  EXPECT_NE(run.lost_reason.find("ring stayed full for 200 ms with message type 300 waiting "
                                 "(slow_subscriber = disconnect)"),
            std::string::npos)
      << run.lost_reason;
}

// ---------------------------------------------------------------------------- unanswered requests

// `n` serving clients "svc" (of type 200) that take requests and never answer, forked and
// serving.
class SilentServers {
 public:
  explicit SilentServers(int n) : block_(sizeof(Shared)), shared_(new (block_.data()) Shared) {
    for (int i = 0; i < n; ++i) {
      pids_.push_back(test::fork_child([this] { return serve(shared_, Answer::never); }));
    }
    wait_for(shared_->ready, n);
  }
  SilentServers(const SilentServers&) = delete;
  SilentServers& operator=(const SilentServers&) = delete;
  pid_t pid() const { return pids_.front(); }
  // Stops them (type 201, through `client`) and checks that they ended well.
  void stop(Client& client) {
    ASSERT_TRUE(client.send(201, {}));
    for (const pid_t p : pids_) EXPECT_EQ(test::wait_child(p), 0);
  }
  void kill() {
    for (const pid_t p : pids_) {
      ::kill(p, SIGKILL);
      EXPECT_EQ(test::wait_child(p), 128 + SIGKILL);
    }
  }

 private:
  test::SharedBlock block_;
  Shared* shared_;
  std::vector<pid_t> pids_;
};

// A request its serving client never answers fails after request_timeout_ms with an error
// naming that client. A requester whose ring is too full for the error replies when its
// requests expire gets every one of them once it reads.
TEST(Bus, AnUnansweredRequestExpiresWithAnErrorNamingTheServer) {
  test::ScopedSession session("bus-expiry");
  test::Watchdog watchdog(60s, "request expiry");
  const std::string log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(log, {"--request-timeout-ms", "1000"}));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  SilentServers silent(1);
  const pid_t server = silent.pid();
  ClientOptions o;
  o.name = "asker";
  o.ring_capacity = 4096;
  auto client = Client::connect(o);
  ASSERT_TRUE(client) << client.error().message();

  const std::string expected =
      "no reply from 'svc' (pid " + std::to_string(server) + ") to message type 200 within 1000 ms";
  const test::Lateness lateness;
  const test::Stopwatch waited(lateness);
  auto reply = client->request(200, as_bytes("anyone?"), 10s);
  EXPECT_TRUE(test::fails_with(reply, Errc::remote, expected));
  EXPECT_GE(waited.elapsed_ms(), 995);
  EXPECT_LT(waited.unexplained_ms(), 1000 + 1500) << waited.elapsed_ms() << " ms in all";

  // Requests left waiting (timeout 0), then no look at the ring until they all expired:
  // their error replies (some 110 bytes each) are more than its 4 KiB ring holds. (Each
  // request() reads what arrived before it, so they must all be sent before the first
  // expires.)
  constexpr std::size_t kWaiting = 100;
  const auto start = Clock::now();
  for (std::size_t i = 0; i < kWaiting; ++i) {
    EXPECT_TRUE(test::fails_with(client->request(200, as_bytes("q"), 0ns), Errc::timed_out));
  }
  const std::int64_t sending = ms(Clock::now() - start);
  std::this_thread::sleep_for(1500ms);
  std::set<std::uint32_t> expired;
  int other = 0;
  for (;;) {
    auto n = client->wait(
        [&](const Message& m) {
          if (m.is_reply() && m.is_error() && m.text().find(expected) != std::string::npos) {
            expired.insert(m.correlation);
          } else {
            ++other;
          }
        },
        1s);
    ASSERT_TRUE(n) << n.error().message();
    if (*n == 0) break;
  }
  EXPECT_EQ(expired.size(), kWaiting) << "error replies for a full ring were lost (sending the "
                                         "requests took "
                                      << sending << " ms)";
  EXPECT_EQ(other, 0);

  silent.stop(*client);
  EXPECT_EQ(ferryd.stop(), 0);
  const auto stopped = only_event(log, "stopped");
  EXPECT_EQ(stopped.value("requests_expired", std::size_t{0}), kWaiting + 1) << stopped;
  EXPECT_GT(stopped.value("error_replies_held", 0), 0) << stopped;
  EXPECT_EQ(stopped.value("routes", -1), 0) << stopped;
  const auto lines = test::log_events(log, "request_expired");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].value("name", ""), "svc");
  EXPECT_EQ(lines[0].value("pid", 0), server);
}

// A requester that asks and never reads its replies is a slow subscriber of them: once its
// ring is full, the next reply holds the serving client back at most the slow-subscriber
// timeout, then it is dropped (counted, logged once), and the serving client answers
// everyone else again.
TEST(Bus, ARequesterThatNeverReadsItsRepliesHoldsUpNobodyElse) {
  test::ScopedSession session("bus-greedy");
  test::Watchdog watchdog(60s, "greedy requester");
  const std::string log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(log, {"--slow-subscriber-timeout-ms", "300"}));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  test::SharedBlock block(sizeof(Shared));
  auto* shared = new (block.data()) Shared;
  const pid_t server = test::fork_child([&] { return serve(shared, Answer::reversed); });
  wait_for(shared->ready, 1);

  ClientOptions o;
  o.name = "greedy";
  o.ring_capacity = 4096;
  auto greedy = Client::connect(o);
  ASSERT_TRUE(greedy) << greedy.error().message();
  // 100 replies of 1000 bytes for a 4 KiB ring, which it never looks at: asked while the
  // serving client is stopped (a request() reads what arrived before it), answered after.
  ASSERT_EQ(::kill(server, SIGSTOP), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(server, &status, WUNTRACED), server);
  const std::string question(1000, 'q');
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(test::fails_with(greedy->request(200, as_bytes(question), 0ns), Errc::timed_out));
  }
  ASSERT_EQ(::kill(server, SIGCONT), 0);

  auto honest = Client::connect();
  ASSERT_TRUE(honest) << honest.error().message();
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(reversed_reply(*honest, "honest " + std::to_string(i), 5s)) << "request " << i;
  }
  ASSERT_TRUE(honest->send(201, {}));  // stops the serving client
  EXPECT_EQ(test::wait_child(server), 0);
  EXPECT_EQ(ferryd.stop(), 0);
  const auto slow = test::log_events(log, "slow_subscriber");
  ASSERT_EQ(slow.size(), 1u) << test::read_file(log);
  EXPECT_EQ(slow.front().value("name", ""), "greedy") << slow.front().dump();
  const auto stopped = test::log_events(log, "stopped");
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_GT(stopped.front().value("deliveries_dropped", 0), 0) << stopped.front().dump();
}

// max_outstanding_requests per serving client: requests go to the next one below it, and
// only when every one is at it are they refused, at once.
TEST(Bus, RequestsBeyondTheLimitGoToAnotherServerOrAreRefused) {
  test::ScopedSession session("bus-limit");
  test::Watchdog watchdog(60s, "request limit");
  const std::string log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(log, {"--max-outstanding-requests", "2"}));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  SilentServers silent(2);
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();
  for (int i = 0; i < 4; ++i) {  // two each, left waiting
    EXPECT_TRUE(test::fails_with(client->request(200, as_bytes("q"), 0ns), Errc::timed_out));
  }
  const test::Lateness lateness;
  const test::Stopwatch asking(lateness);
  EXPECT_TRUE(test::fails_with(client->request(200, as_bytes("one more"), 5s), Errc::remote,
                               "refused: all 2 clients serving message type 200 ('svc' (pid "));
  EXPECT_LT(asking.unexplained_ms(), 1000) << "not refused at once";
  silent.stop(*client);
  EXPECT_EQ(ferryd.stop(), 0);
  const auto stopped = only_event(log, "stopped");
  EXPECT_EQ(stopped.value("requests", 0), 4) << stopped;
  EXPECT_EQ(stopped.value("requests_refused", 0), 1) << stopped;
  EXPECT_EQ(test::log_events(log, "requests_refused").size(), 2u) << "once for each";
}

// A million requests (FERRY_TEST_SCALE scales it) to a serving client that never answers:
// ferryd keeps max_outstanding_requests of them (4096 by default) and refuses the others at
// once with an error naming the client, so its memory stays flat.
TEST(Bus, AMillionUnansweredRequestsKeepFerrydFlat) {
  test::ScopedSession session("bus-unanswered");
  test::Watchdog watchdog(280s, "a million unanswered requests");
  const std::string log = session.dir() + "/ferryd.log";
  // Under AddressSanitizer freed memory waits in a quarantine (256 MB), counted in VmRSS:
  // this ferryd has none, so that VmRSS shows what it keeps. (Elsewhere the option is unread.)
  const char* asan = std::getenv("ASAN_OPTIONS");
  const test::ScopedEnv no_quarantine(
      "ASAN_OPTIONS",
      (asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : "") + "quarantine_size_mb=0");
  test::FerrydProcess ferryd(test::with_log(log));  // the defaults
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  SilentServers silent(1);
  ClientOptions o = patient();
  o.name = "asker";
  o.wait.strategy = WaitStrategy::block;
  auto client = Client::connect(o);
  ASSERT_TRUE(client) << client.error().message();

  const std::string refused = "refused: 'svc' (pid " + std::to_string(silent.pid()) +
                              "), the client serving message type 200, already has 4096 "
                              "unanswered requests";
  const std::uint64_t total = std::max<std::uint64_t>(test::scaled(1'000'000), 100'000);
  const std::uint64_t every = total / 10;
  long baseline_kb = -1;
  long peak_kb = 0;
  bool probing = true;
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < total; ++i) {
    // Most are left waiting (timeout 0); one in 1000, once ferryd refuses, and the last
    // wait for their answer: refused at once, naming the client (after one that is not, no
    // more). That also keeps the requester within 1000 requests of ferryd: one that runs
    // ahead until its request ring is full sleeps until half of it is free, while ferryd
    // waits for room for the refusals in its reply ring, which it no longer reads.
    const bool probe = probing && i >= 5000 && (i % 1000 == 0 || i + 1 == total);
    auto r = client->request(200, as_bytes("q"), probe ? 5s : 0ns);
    if (probe) {
      const auto refused_at_once = test::fails_with(r, Errc::remote, refused);
      EXPECT_TRUE(refused_at_once) << "request " << i;
      probing = refused_at_once;
    } else {
      ASSERT_TRUE(r.code() == Errc::timed_out || r.code() == Errc::remote)
          << "request " << i << ": " << (r ? std::string("answered") : r.error().message());
    }
    if (i % every == every / 2) {
      const long kb = test::status_kb(ferryd.pid(), "VmRSS");
      if (baseline_kb < 0) baseline_kb = kb;
      peak_kb = std::max(peak_kb, kb);
    }
  }
  const long growth_kb = peak_kb - baseline_kb;
  std::printf(
      "%llu unanswered requests in %lld ms: ferryd VmRSS %ld kB after %llu, at most %ld kB "
      "after (+%ld kB)\n",
      static_cast<unsigned long long>(total), static_cast<long long>(ms(Clock::now() - start)),
      baseline_kb, static_cast<unsigned long long>(every / 2), peak_kb, growth_kb);
  EXPECT_LT(growth_kb, 2048) << "ferryd grew with the unanswered requests";

  // ferryd stops first, so that its last line counts the routes it still holds.
  EXPECT_EQ(ferryd.stop(), 0);
  silent.kill();  // it would wait for ferryd to come back
  const auto stopped = only_event(log, "stopped");
  const auto forwarded = stopped.value("requests", std::uint64_t{0});
  EXPECT_EQ(forwarded + stopped.value("requests_refused", std::uint64_t{0}), total) << stopped;
  // (Some expire if this took over 30 s.)
  EXPECT_EQ(stopped.value("routes", ~std::uint64_t{0}),
            forwarded - stopped.value("requests_expired", std::uint64_t{0}))
      << stopped;
  EXPECT_LE(stopped.value("routes", ~std::uint64_t{0}), 4096u) << stopped;
  EXPECT_EQ(test::log_events(log, "requests_refused").size(), 1u) << "logged once";
}

}  // namespace
}  // namespace ferry
