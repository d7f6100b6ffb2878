// ferry::read_session_stat() and `ferry stat` against a real ferryd in another process: the
// endpoint's counters, each connection's peer and rings, totals that survive closed
// connections, the CLI's JSON and live output, and its usage errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "ferry/stat.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"

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
  for (int i = 0; i < 100 && got < kMessages; ++i) {
    auto n = sub.wait([&](const Message&) { ++got; }, 100ms);
    ASSERT_TRUE(n) << n.error().message();
  }
  ASSERT_EQ(got, kMessages);

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
  for (int i = 0; i < 200; ++i) {
    auto e = bus_stat();
    ASSERT_TRUE(e) << e.error().message();
    if (e->connections.empty()) break;
    ::usleep(10'000);
  }
  auto e = bus_stat();
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_TRUE(e->connections.empty());
  EXPECT_EQ(e->server.lost, 2u);
  EXPECT_GE(e->in.full_waits, waits);
  EXPECT_GT(e->in.full_wait_ns, 40'000'000u);
  EXPECT_EQ(e->in.used_bytes, 0u);
  EXPECT_EQ(e->in.capacity_bytes, 0u);
}

// Connections come and go while an observer reads: the sums over connections (live plus
// closed) must never go down from one reading to the next, which is what Prometheus takes
// a counter to do. A connection that closes between the reader's look at the closed
// totals and its look at the live connections would otherwise vanish from both.
TEST(Stat, SumsNeverGoDownWhileConnectionsComeAndGo) {
  test::ScopedSession session("stat-churn");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  std::atomic<bool> done{false};
  std::atomic<int> churned{0};
  std::thread churn([&] {
    const std::vector<std::byte> payload(64, std::byte{3});
    while (!done.load()) {
      ClientOptions o;
      o.name = "churn";
      o.reconnect = false;
      auto c = Client::connect(o);
      if (!c) continue;
      for (int i = 0; i < 4; ++i) (void)c->send(kType, payload);
      churned.fetch_add(1);
    }
  });
  std::uint64_t last_in = 0;
  std::uint64_t last_out = 0;
  int readings = 0;
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    auto e = bus_stat();
    if (!e) continue;  // not up yet
    ++readings;
    // Every connection's client wakes ferryd at least once (its producer's syscalls).
    const std::uint64_t in = e->in.producer_wakes + e->in.consumer_wakes;
    const std::uint64_t out = e->out.producer_wakes + e->out.consumer_wakes;
    ASSERT_GE(in, last_in) << "reading " << readings << ": the sum went down";
    ASSERT_GE(out, last_out) << "reading " << readings << ": the sum went down";
    last_in = in;
    last_out = out;
  }
  done.store(true);
  churn.join();
  EXPECT_GT(readings, 50);
  EXPECT_GT(churned.load(), 50);
  EXPECT_GT(last_in, 0u);
}

TEST(Stat, ACommandPrintsJsonAndLiveFramesAndRefusesBadFlags) {
  test::ScopedSession session("stat-cli");
  test::FerrydProcess ferryd;
  ASSERT_TRUE(ferryd.ok());
  Client c = connect_as("cli-watched");
  ASSERT_TRUE(c.send(kType, std::vector<std::byte>(10)));
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
