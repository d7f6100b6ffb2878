// SPDX-License-Identifier: Apache-2.0
// ferry::read_session_stat() and `ferry stat` against a real ferryd in another process: the
// endpoint's counters, each connection's peer and rings, totals that survive closed
// connections (counted once while they close, bounded whatever their clients wrote), the
// CLI's JSON and live output, and its usage errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conn/conn_layout.hpp"
#include "ferry/client.hpp"
#include "ferry/stat.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/memfd_maps.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kType = 7;

using test::run;

Client connect_as(const std::string& name, std::uint32_t ring = 0) {
  ClientOptions o;
  o.name = name;
  o.ring_capacity = ring;
  o.reconnect = false;
  o.send_timeout = 50ms;
  auto c = Client::connect(o);
  EXPECT_TRUE(c) << c.error().message();
  return std::move(*c);
}

const ConnectionStat* find_conn(const EndpointStat& e, const std::string& name) {
  for (const ConnectionStat& c : e.connections) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Result<EndpointStat> bus_stat() {
  auto s = read_session_stat();
  if (!s) return s.error();
  for (EndpointStat& e : s->endpoints) {
    if (e.endpoint == "bus") return e;
  }
  return Error(Errc::not_found, "no endpoint bus among " + std::to_string(s->endpoints.size()));
}

// Until ferryd has let go of every connection its clients closed (or bus_stat() fails: the
// caller's next reading says why).
void wait_until_no_connections() {
  test::wait_for([] {
    auto e = bus_stat();
    return !e || e->connections.empty();
  });
}

TEST(Stat, ReadsTheServersCountersAndEveryConnectionFromAnotherProcess) {
  test::ScopedSession session("stat");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  Client sub = connect_as("stat-subscriber");
  ASSERT_TRUE(sub.subscribe(kType));
  Client pub = connect_as("stat-publisher");
  const std::vector<std::byte> payload(64, std::byte{0x5a});
  constexpr int kMessages = 100;
  for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(pub.send(kType, payload));
  int got = 0;
  const auto deadline = std::chrono::steady_clock::now() + test::kPatience;
  while (got < kMessages && std::chrono::steady_clock::now() < deadline) {
    auto n = sub.wait([&](const Message&) { ++got; }, 100ms);
    ASSERT_TRUE(n) << n.error().message();
  }
  ASSERT_EQ(got, kMessages);
  // ferryd releases the publisher's records after fanning them out: the subscriber may
  // have them all before the publisher's ring says they were consumed.
  ASSERT_TRUE(test::wait_for([&] { return pub.acknowledged() == std::uint64_t{kMessages}; }))
      << pub.acknowledged() << " of " << kMessages << " acknowledged";

  auto e = bus_stat();
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->session, "stat");
  EXPECT_EQ(e->pid, ferryd.pid());
  EXPECT_GT(e->started_unix_ns, 0);
  EXPECT_EQ(e->server.active, 2u);
  EXPECT_EQ(e->server.accepted, 2u);
  // The publications, plus the subscriber's subscribe request.
  EXPECT_EQ(e->server.messages_in, kMessages + 1u);
  EXPECT_EQ(e->server.bytes_in, kMessages * payload.size() + 2u);
  EXPECT_GE(e->server.messages_out, std::uint64_t{kMessages});
  ASSERT_EQ(e->connections.size(), 2u);
  const ConnectionStat* p = find_conn(*e, "stat-publisher");
  const ConnectionStat* s = find_conn(*e, "stat-subscriber");
  ASSERT_NE(p, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(p->pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(p->uid, ::geteuid());
  EXPECT_EQ(p->id, pub.id());
  EXPECT_EQ(p->in.records_sent, std::uint64_t{kMessages});
  EXPECT_EQ(p->in.bytes_sent, kMessages * payload.size());
  EXPECT_EQ(p->in.records_received, std::uint64_t{kMessages});
  EXPECT_EQ(s->out.records_received, s->out.records_sent);
  EXPECT_GE(s->out.records_sent, std::uint64_t{kMessages});
  EXPECT_EQ(p->reconnects, 0u);
  EXPECT_GT(p->connected_unix_ns, e->started_unix_ns - 1);
  EXPECT_EQ(e->in.capacity_bytes, p->in.capacity + s->in.capacity);
}

TEST(Stat, BackpressureTotalsSurviveTheConnectionsThatCausedThem) {
  test::ScopedSession session("stat-closed");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  std::uint64_t waits = 0;
  {
    // A subscriber that never reads: its ring fills, ferryd holds the publisher's next
    // message, the publisher's ring fills and its sends wait, then time out.
    Client sub = connect_as("stalled-subscriber", 4096);
    ASSERT_TRUE(sub.subscribe(kType));
    Client pub = connect_as("flooding-publisher", 4096);
    const std::vector<std::byte> payload(512, std::byte{1});
    Result<void> r;
    for (int i = 0; i < 1000 && r; ++i) r = pub.send(kType, payload);
    ASSERT_FALSE(r) << "1000 sends of 512 bytes into 4 KiB rings never waited";
    EXPECT_EQ(r.code(), Errc::timed_out) << r.error().message();

    auto e = bus_stat();
    ASSERT_TRUE(e) << e.error().message();
    const ConnectionStat* p = find_conn(*e, "flooding-publisher");
    ASSERT_NE(p, nullptr);
    EXPECT_GT(p->in.full_waits, 0u);
    EXPECT_GT(p->in.full_wait_ns, 40'000'000u) << "it waited 50 ms at least once";
    EXPECT_GT(p->in.used_bytes, 0u);
    EXPECT_GT(p->in.high_water_bytes, 2048u);
    EXPECT_GE(e->in.full_waits, p->in.full_waits);
    waits = e->in.full_waits;
  }
  // Both gone: the totals stay (closed connections' counters are kept by the server).
  wait_until_no_connections();
  auto e = bus_stat();
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_TRUE(e->connections.empty());
  EXPECT_EQ(e->server.lost, 2u);
  EXPECT_GE(e->in.full_waits, waits);
  EXPECT_GT(e->in.full_wait_ns, 40'000'000u);
  EXPECT_EQ(e->in.used_bytes, 0u);
  EXPECT_EQ(e->in.capacity_bytes, 0u);
}

// The rings of connection `id`, as its client (this process) maps them: a client can write
// every counter there, the server's blocks included.
struct ClientRings {
  detail::RingHeader* c2s = nullptr;
  detail::RingHeader* s2c = nullptr;
};
std::optional<ClientRings> client_rings(ConnectionId id) {
  for (const test::Mapping& m : test::memfd_mappings("conn-" + std::to_string(id))) {
    if (!m.writable || m.size < detail::kConnHeaderSize) continue;
    auto* header = std::launder(reinterpret_cast<detail::ConnHeader*>(m.start));  // NOLINT
    const detail::ConnIdent ident = header->ident;
    if (ident.connection_id != id || ident.c2s_offset + detail::kRingHeaderSize > m.size ||
        ident.s2c_offset + detail::kRingHeaderSize > m.size) {
      continue;
    }
    return ClientRings{
        std::launder(reinterpret_cast<detail::RingHeader*>(m.start + ident.c2s_offset)),   // NOLINT
        std::launder(reinterpret_cast<detail::RingHeader*>(m.start + ident.s2c_offset))};  // NOLINT
  }
  return std::nullopt;
}

// Connections come and go while an observer reads. Each, once ferryd has answered it (so
// its peer entry is written), marks itself: one full wait in its client -> server ring
// (none of them ever finds its ring full). The endpoint's full waits, live plus closed, must
// then lie between the marks made before a reading and those made after it: more is a
// connection counted twice (live, and in the closed totals as it closes), less one lost
// between the two. And the sums must never go down from one reading to the next, which is
// what Prometheus takes a counter to do.
TEST(Stat, SumsCountEachConnectionOnceWhileConnectionsComeAndGo) {
  test::ScopedSession session("stat-churn");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  std::atomic<bool> done{false};
  // Counted before and after the mark: a reading can see a mark whose `marked` is not yet
  // counted, never one whose `marking` is not.
  std::atomic<std::uint64_t> marking{0};
  std::atomic<std::uint64_t> marked{0};
  std::thread churn([&] {
    const std::vector<std::byte> payload(64, std::byte{3});
    while (!done.load()) {
      ClientOptions o;
      o.name = "churn";
      o.reconnect = false;
      auto c = Client::connect(o);
      if (!c) continue;
      for (int i = 0; i < 4; ++i) (void)c->send(kType, payload);
      if (!c->subscribe(kType)) continue;  // answered: ferryd finished accepting it
      auto rings = client_rings(c->id());
      if (!rings) continue;
      marking.fetch_add(1);
      rings->c2s->producer.full_waits.store(1, std::memory_order_relaxed);
      marked.fetch_add(1);
    }
  });
  std::uint64_t last_in = 0;
  std::uint64_t last_out = 0;
  std::uint64_t last_waits = 0;
  int readings = 0;
  // 3 s, and at least 50 readings of 50 marked connections however slow the machine is
  // (the patience only turns a hang into a failure).
  const auto start = std::chrono::steady_clock::now();
  const auto enough = [&] {
    const auto now = std::chrono::steady_clock::now();
    return now - start >= 3s &&
           ((readings > 50 && marked.load() > 50) || now - start > test::kPatience);
  };
  // A lambda, so that a failed assertion ends the readings, not the test with `churn`
  // still running (std::terminate).
  auto read_while_churning = [&] {
    while (!enough()) {
      const std::uint64_t marked_before = marked.load();
      auto e = bus_stat();
      const std::uint64_t marking_after = marking.load();
      if (!e) continue;  // not up yet
      ++readings;
      ASSERT_LE(e->in.full_waits, marking_after) << "reading " << readings << ": counted twice";
      ASSERT_GE(e->in.full_waits, marked_before) << "reading " << readings << ": one lost";
      // Every connection's client wakes ferryd at least once (its producer's syscalls).
      const std::uint64_t in = e->in.producer_wakes + e->in.consumer_wakes;
      const std::uint64_t out = e->out.producer_wakes + e->out.consumer_wakes;
      ASSERT_GE(in, last_in) << "reading " << readings << ": the sum went down";
      ASSERT_GE(out, last_out) << "reading " << readings << ": the sum went down";
      ASSERT_GE(e->in.full_waits, last_waits) << "reading " << readings << ": the sum went down";
      last_in = in;
      last_out = out;
      last_waits = e->in.full_waits;
    }
  };
  read_while_churning();
  done.store(true);
  churn.join();
  EXPECT_GT(readings, 50);
  EXPECT_GT(marked.load(), 50u);
  EXPECT_GT(last_in, 0u);
}

// A client writes absurd values into every counter of its rings (its own blocks and the
// server's: it can write the whole segment) and closes; twice. The closed totals take each
// connection's counters only up to what its lifetime allows (time waited at most the
// lifetime, counts at most one per 10 ns of it, docs/observability.md) and add without
// wrapping: they never go down and never jump past that bound, live or closed.
TEST(Stat, AbsurdRingCountersFromAClientCannotMakeTheTotalsWrapOrJump) {
  test::ScopedSession session("stat-absurd");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> last;
  // Every ring counter an endpoint's totals sum, both ways, must stay under `bound_ns`
  // (time) or bound_ns / 10 (counts), and never go down.
  auto check = [&](std::uint64_t connections) {
    auto e = bus_stat();
    ASSERT_TRUE(e) << e.error().message();
    const auto elapsed = std::chrono::steady_clock::now() - start + 2ms;
    const std::uint64_t bound_ns =
        connections * static_cast<std::uint64_t>(
                          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    std::vector<std::uint64_t> now;
    for (const DirectionTotals* t : {&e->in, &e->out}) {
      EXPECT_LE(t->full_wait_ns, bound_ns);
      for (const std::uint64_t count :
           {t->full_waits, t->producer_wakes, t->consumer_wakes, t->errors}) {
        EXPECT_LE(count, bound_ns / 10);
        now.push_back(count);
      }
      now.push_back(t->full_wait_ns);
    }
    for (std::size_t i = 0; i < last.size(); ++i) {
      EXPECT_GE(now[i], last[i]) << "total " << i << " went down";
    }
    last = now;
  };
  for (std::uint64_t round = 1; round <= 2; ++round) {
    Client c = connect_as("absurd");
    ASSERT_TRUE(c.subscribe(kType));  // answered: ferryd finished accepting it
    auto rings = client_rings(c.id());
    ASSERT_TRUE(rings);
    for (detail::RingHeader* r : {rings->c2s, rings->s2c}) {
      r->producer.full_waits.store(kMax, std::memory_order_relaxed);
      r->producer.full_wait_ns.store(std::uint64_t{1} << 63, std::memory_order_relaxed);
      r->producer.wake_syscalls.store(kMax, std::memory_order_relaxed);
      r->consumer.wake_syscalls.store(kMax, std::memory_order_relaxed);
      r->consumer.errors.store(kMax, std::memory_order_relaxed);
    }
    check(round);  // live
  }
  wait_until_no_connections();
  check(2);  // closed
  auto e = bus_stat();
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_TRUE(e->connections.empty());
  EXPECT_GT(e->in.full_waits, 0u) << "the absurd values were dropped rather than bounded";
}

TEST(Stat, ACommandPrintsJsonAndLiveFramesAndRefusesBadFlags) {
  test::ScopedSession session("stat-cli");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  Client c = connect_as("cli-watched");
  ASSERT_TRUE(c.send(kType, std::vector<std::byte>(10)));
  // ferryd writes a connection's stat entry just after its welcome, and counts the message
  // when it handles it: once it has acknowledged the message, both are there to read.
  ASSERT_TRUE(test::wait_for([&] { return c.acknowledged() == 1u; }));
  const std::string ferry = FERRY_CLI_PATH;

  auto [json, rc] = run(ferry + " stat --json");
  ASSERT_EQ(rc, 0) << json;
  const auto j = nlohmann::json::parse(json);
  EXPECT_EQ(j["session"], "stat-cli");
  ASSERT_EQ(j["endpoints"].size(), 1u);
  const auto& bus = j["endpoints"][0];
  EXPECT_EQ(bus["endpoint"], "bus");
  EXPECT_EQ(bus["pid"], ferryd.pid());
  EXPECT_EQ(bus["messages_in"], 1);
  ASSERT_EQ(bus["connections"].size(), 1u);
  EXPECT_EQ(bus["connections"][0]["name"], "cli-watched");
  EXPECT_EQ(bus["connections"][0]["pid"], ::getpid());
  EXPECT_EQ(bus["connections"][0]["in"]["messages"], 1);

  auto [live, live_rc] = run(ferry + " stat --count 2 --interval 50");
  ASSERT_EQ(live_rc, 0) << live;
  std::size_t frames = 0;
  for (std::size_t at = live.find("ferry stat  session stat-cli"); at != std::string::npos;
       at = live.find("ferry stat  session stat-cli", at + 1)) {
    ++frames;
  }
  EXPECT_EQ(frames, 2u) << live;
  EXPECT_NE(live.find("endpoint bus  pid " + std::to_string(ferryd.pid())), std::string::npos)
      << live;
  EXPECT_NE(live.find("cli-watched"), std::string::npos) << live;
  EXPECT_NE(live.find("msg/s"), std::string::npos) << "no rates in the second frame:\n" << live;

  auto [only, only_rc] = run(ferry + " stat --json --endpoint nosuch");
  ASSERT_EQ(only_rc, 0);
  EXPECT_TRUE(nlohmann::json::parse(only)["endpoints"].empty()) << only;

  auto [bad, bad_rc] = run(ferry + " stat --interval 0 2>&1");
  EXPECT_EQ(bad_rc, 2);
  EXPECT_NE(bad.find("--interval"), std::string::npos) << bad;
  auto [none, none_rc] = run(ferry + " stat --session nobody-here --json 2>&1");
  EXPECT_EQ(none_rc, 1);
  EXPECT_NE(none.find("nobody-here"), std::string::npos) << none;
}

}  // namespace
}  // namespace ferry
