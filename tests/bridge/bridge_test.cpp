// SPDX-License-Identifier: Apache-2.0
// tests/bridge/bridge_test.cpp: two buses (two ferryds, two sessions) bridged through a real
// nats-server (Debian's), all real processes: publications both ways, each exactly once and
// in order, none of a bus's own coming back to it; requests across the "hosts" answered by a
// queue group of two bridges, served on the asking bus only while a responder is
// advertised; nats-server stopped for 5 s under each when_down policy; what a bridge says
// when no NATS server can be reached.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/process.hpp"
#include "ferry/client.hpp"
#include "support/ferryd_process.hpp"
#include "support/test_support.hpp"
#include "support/two_buses.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using test::bytes;
using test::metric;
using test::on;
using test::PortReservation;
using test::Responder;
using test::status_of;

// A nats-server on a loopback port, its log in `dir`; stop() and start() again keep the port.
class NatsServer {
 public:
  NatsServer(std::string dir, std::vector<std::string> extra = {})
      : dir_(std::move(dir)), extra_(std::move(extra)) {
    ::mkdir(dir_.c_str(), 0700);
    port_.release();
    start();
  }
  ~NatsServer() { stop(); }
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  std::string url() const { return "nats://" + port_.address(); }
  std::string log() const { return test::read_file(dir_ + "/nats.log"); }

  // Starts it and waits (up to 10 s) until it takes connections.
  void start() {
    std::vector<std::string> args = {"/usr/sbin/nats-server",      "-a", "127.0.0.1",       "-p",
                                     std::to_string(port_.port()), "-l", dir_ + "/nats.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = tools::fork_child([&] {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      return 127;
    });
    ready_ = false;
    for (int i = 0; i < 200 && !ready_; ++i) {
      ready_ = accepts();
      if (!ready_) std::this_thread::sleep_for(50ms);
    }
  }
  bool ready() const { return ready_; }
  void stop(int signal = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    (void)tools::wait_child(pid_);
    pid_ = -1;
  }
  void kill() { stop(SIGKILL); }
  // Stops it without closing its connections (SIGSTOP): what is sent to it goes unanswered.
  void freeze() const {
    if (pid_ > 0) ::kill(pid_, SIGSTOP);
  }

 private:
  bool accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_.port());
    const bool ok =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;  // NOLINT
    ::close(fd);
    return ok;
  }

  std::string dir_;
  std::vector<std::string> extra_;
  PortReservation port_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

class Bridged : public test::BusPair {
 protected:
  void SetUp() override {
    test::BusPair::SetUp();
    if (HasFatalFailure()) return;
    nats_ = std::make_unique<NatsServer>(session_.dir() + "/nats");
    ASSERT_TRUE(nats_->ready()) << nats_->log();
  }

  // A bridge on `session`'s bus named `host`, with `args` after the common ones (and the
  // fixture's nats-server unless the test has none: then `args` name the servers).
  std::unique_ptr<test::FerrydProcess> start_bridge(const std::string& session,
                                                    const std::string& host,
                                                    std::vector<std::string> args) {
    test::FerrydOptions o;
    o.binary = BRIDGE_PATH;
    o.log = session_.dir() + "/bridge-" + host + ".log";
    o.args = {"--session",        session,       "--host",      host,   "--namespace", "test",
              "--metrics-listen", "127.0.0.1:0", "--log-level", "debug"};
    if (nats_) o.args.insert(o.args.end(), {"--server", nats_->url()});
    o.args.insert(o.args.end(), args.begin(), args.end());
    return std::make_unique<test::FerrydProcess>(o);
  }

  static std::string scrape(const test::FerrydProcess& bridge) {
    return test::run("curl -sS --max-time 5 " + status_of(bridge.ready_message(), "metrics on "))
        .first;
  }

  std::unique_ptr<NatsServer> nats_;
};

// Collects the publications of `types` a client on `session` receives.
class Collector {
 public:
  Collector(const std::string& session, std::vector<std::uint16_t> types) {
    auto c = Client::connect(on(session));
    EXPECT_TRUE(c) << c.error().message();
    if (!c) return;
    client_ = std::move(*c);
    for (auto t : types) EXPECT_TRUE(client_.subscribe(t));
  }
  // Waits until `n` messages arrived or `patience` passed without one; what arrived.
  const std::vector<std::pair<std::uint16_t, std::string>>& until(std::size_t n,
                                                                  std::chrono::seconds patience) {
    while (got_.size() < n) {
      auto k = client_.wait(
          [&](const Message& m) { got_.emplace_back(m.type, std::string(m.text())); }, patience);
      if (!k || *k == 0) break;
    }
    return got_;
  }
  // What arrives within `quiet` more.
  const std::vector<std::pair<std::uint16_t, std::string>>& settle(
      std::chrono::milliseconds quiet) {
    for (;;) {
      auto k = client_.wait(
          [&](const Message& m) { got_.emplace_back(m.type, std::string(m.text())); }, quiet);
      if (!k || *k == 0) return got_;
    }
  }

 private:
  Client client_;
  std::vector<std::pair<std::uint16_t, std::string>> got_;
};

TEST_F(Bridged, PublicationsCrossBothWaysExactlyOnceInOrderAndNeverComeBack) {
  auto bridge_a = start_bridge("a", "host-a", {"--route", "both 7"});
  auto bridge_b = start_bridge("b", "host-b", {"--route", "both 7"});
  ASSERT_TRUE(bridge_a->ok());
  ASSERT_TRUE(bridge_b->ok());
  Collector on_a("a", {7});
  Collector on_b("b", {7});
  auto pub_a = Client::connect(on("a"));
  auto pub_b = Client::connect(on("b"));
  ASSERT_TRUE(pub_a && pub_b);
  constexpr int kEach = 500;
  for (int i = 0; i < kEach; ++i) {
    ASSERT_TRUE(pub_a->send(7, bytes("a" + std::to_string(i))));
    ASSERT_TRUE(pub_b->send(7, bytes("b" + std::to_string(i))));
  }
  // Each bus sees its own publications (from its ferryd) and the other's (through NATS),
  // each once: a bus's own never come back through the bridges.
  for (Collector* c : {&on_a, &on_b}) {
    const auto& got = c->until(2 * kEach, 10s);
    c->settle(300ms);
    ASSERT_EQ(got.size(), 2u * kEach);
    int next_a = 0;
    int next_b = 0;
    for (const auto& [type, text] : got) {
      ASSERT_EQ(type, 7);
      if (text[0] == 'a') {
        EXPECT_EQ(text, "a" + std::to_string(next_a++)) << "out of order or repeated";
      } else {
        EXPECT_EQ(text, "b" + std::to_string(next_b++)) << "out of order or repeated";
      }
    }
    EXPECT_EQ(next_a, kEach);
    EXPECT_EQ(next_b, kEach);
  }
  const std::string m = scrape(*bridge_a);
  EXPECT_EQ(metric(m, R"(ferry_bridge_messages_total{direction="out",route="both 7"})"), "500")
      << m;
  EXPECT_EQ(metric(m, R"(ferry_bridge_messages_total{direction="in",route="both 7"})"), "500");
  EXPECT_EQ(metric(m, R"(ferry_bridge_gaps_total{route="both 7"})"), "0");
}

// Requests of type 8 on bus a are answered on bus b through two bridges in one queue group;
// a serves type 8 only while a responder is advertised.
TEST_F(Bridged, RequestsAreAnsweredAcrossByAQueueGroupOfTwo) {
  Responder on_b("b", 8, "b:");
  ASSERT_TRUE(on_b.ok());
  auto bridge_a =
      start_bridge("a", "host-a", {"--route", "request 8", "--responder-ttl-ms", "600"});
  ASSERT_TRUE(bridge_a->ok());
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  // Nobody on NATS answers type 8 yet: the bridge does not serve it, the bus says so.
  auto none = a->request(8, bytes("anyone?"), 5s);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message().find("no client serves"), std::string::npos)
      << none.error().message();
  auto serve_1 = start_bridge("b", "host-b1", {"--route", "serve 8", "--responder-ttl-ms", "600"});
  auto serve_2 = start_bridge("b", "host-b2", {"--route", "serve 8", "--responder-ttl-ms", "600"});
  ASSERT_TRUE(serve_1->ok());
  ASSERT_TRUE(serve_2->ok());
  // Bridge a serves type 8 once it has heard an advert (asked for at once when they start).
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = scrape(*bridge_a).find("ferry_bridge_remote_responders{route=\"request 8\"} 1") !=
             std::string::npos;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(served) << scrape(*bridge_a);
  for (int i = 0; i < 200; ++i) {
    const std::string q = "question " + std::to_string(i);
    auto r = a->request(8, bytes(q), 5s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->text(), "b:" + q);
  }
  // Both members of the queue group took some.
  for (auto* b : {serve_1.get(), serve_2.get()}) {
    const std::string m = scrape(*b);
    const int ok =
        std::atoi(metric(m, R"(ferry_bridge_requests_total{result="ok",route="serve 8"})").c_str());
    EXPECT_GT(ok, 0) << m;
  }
  // The responders go: after the advert's time to live the bridge stops serving type 8.
  serve_1->stop();
  serve_2->stop();
  std::string why;
  for (int i = 0; i < 100; ++i) {
    auto r = a->request(8, bytes("still there?"), 5s);
    if (!r) {
      why = r.error().message();
      if (why.find("no client serves") != std::string::npos) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(why.find("no client serves"), std::string::npos) << why;
}

// NATS away for 5 s, publications of three types going out, one bridge per when_down policy
// with a 16 KiB buffer: backpressure loses nothing (ferryd a lets its publisher wait that
// long), drop_oldest keeps the newest, fail keeps the oldest, and the drops are counted.
TEST_F(Bridged, EachWhenDownPolicyDoesWhatItSaysWhileNatsIsAway) {
  bus_a_.reset();
  bus_a_ = std::make_unique<test::FerrydProcess>(
      test::with_log(session_.dir() + "/ferryd-a2.log",
                     {"--session", "a", "--slow-subscriber-timeout-ms", "30000"}));
  ASSERT_TRUE(bus_a_->ok());
  const std::vector<std::string> common = {"--reconnect-buffer-bytes", "16KiB",
                                           "--reconnect-wait-ms", "100"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  auto keep = start_bridge("a", "keep", with({"--route", "out 7 when_down=backpressure"}));
  auto newest = start_bridge("a", "newest", with({"--route", "out 17 when_down=drop_oldest"}));
  auto oldest = start_bridge("a", "oldest", with({"--route", "out 27 when_down=fail"}));
  auto in_b =
      start_bridge("b", "in-b", {"--route", "in 7", "--route", "in 17", "--route", "in 27"});
  for (auto* b : {keep.get(), newest.get(), oldest.get(), in_b.get()}) ASSERT_TRUE(b->ok());
  const auto logs = [&] {
    std::string text;
    for (const char* b : {"keep", "newest", "oldest", "in-b"}) {
      text += std::string("--- bridge ") + b + ":\n" +
              test::read_file(session_.dir() + "/bridge-" + b + ".log");
    }
    return text;
  };
  Collector got("b", {7, 17, 27});
  auto pub = Client::connect(on("a"));
  ASSERT_TRUE(pub);
  nats_->stop();
  std::this_thread::sleep_for(300ms);  // the bridges notice
  // 100 KiB of each type while NATS is away: far more than a buffer holds.
  constexpr int kEach = 100;
  const std::string pad(1000, '.');
  std::thread publisher([&] {
    for (int i = 0; i < kEach; ++i) {
      for (const std::uint16_t t : {std::uint16_t{17}, std::uint16_t{27}, std::uint16_t{7}}) {
        EXPECT_TRUE(pub->send(t, bytes(std::to_string(i) + pad)));
      }
    }
  });
  std::this_thread::sleep_for(5s);
  // Core NATS keeps nothing for a subscriber that is not there: the receiving bridge must
  // be back before the sending ones flush. They wait, stopped, until it is.
  for (auto* b : {keep.get(), newest.get(), oldest.get()}) ::kill(b->pid(), SIGSTOP);
  nats_->start();
  ASSERT_TRUE(nats_->ready());
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    back = metric(scrape(*in_b), "ferry_bridge_nats_connected") == "1";
    if (!back) std::this_thread::sleep_for(50ms);
  }
  for (auto* b : {keep.get(), newest.get(), oldest.get()}) ::kill(b->pid(), SIGCONT);
  ASSERT_TRUE(back) << logs();
  publisher.join();
  const auto& all = got.until(3 * kEach, 3s);
  got.settle(1s);
  std::map<std::uint16_t, std::vector<int>> seen;
  for (const auto& [type, text] : all) seen[type].push_back(std::atoi(text.c_str()));
  // backpressure: every one, in order.
  ASSERT_EQ(seen[7].size(), std::size_t{kEach}) << logs();
  for (std::size_t i = 0; i < seen[7].size(); ++i) EXPECT_EQ(seen[7][i], static_cast<int>(i));
  // drop_oldest: fewer, ending with the last one; fail: fewer, starting with the first.
  ASSERT_FALSE(seen[17].empty());
  ASSERT_FALSE(seen[27].empty());
  EXPECT_LT(seen[17].size(), std::size_t{kEach});
  EXPECT_EQ(seen[17].back(), kEach - 1);
  EXPECT_LT(seen[27].size(), std::size_t{kEach});
  EXPECT_EQ(seen[27].front(), 0);
  // Each drop counted where it happened.
  const auto dropped = [&](const test::FerrydProcess& b, const std::string& route) {
    return std::atoi(
        metric(scrape(b), "ferry_bridge_dropped_total{reason=\"buffer\",route=\"" + route + "\"}")
            .c_str());
  };
  EXPECT_EQ(dropped(*keep, "out 7"), 0);
  EXPECT_EQ(static_cast<std::size_t>(dropped(*newest, "out 17")), kEach - seen[17].size());
  EXPECT_EQ(static_cast<std::size_t>(dropped(*oldest, "out 27")), kEach - seen[27].size());
  EXPECT_GE(std::atoi(metric(scrape(*keep), "ferry_bridge_nats_reconnects_total").c_str()), 1);
}

// A JetStream route: every message once and in order; then a receiving bridge killed with
// SIGKILL mid-stream and started again: nothing lost (JetStream delivers again what it was
// never told of), and of what was on the bus already and comes again, all dropped but at
// most the one message the bridge was handing to the bus as it died (docs/bridge.md,
// "Limits").
TEST_F(Bridged, JetStreamDeliversEachMessageOnceAcrossAKilledBridge) {
  nats_.reset();
  nats_ = std::make_unique<NatsServer>(
      session_.dir() + "/nats-js", std::vector<std::string>{"-js", "-sd", session_.dir() + "/js"});
  ASSERT_TRUE(nats_->ready()) << nats_->log();
  auto out_a = start_bridge("a", "host-a", {"--route", "out 7 delivery=jetstream"});
  ASSERT_TRUE(out_a->ok());
  const std::vector<std::string> in_args = {"--route", "in 7 delivery=jetstream", "--ack-wait-ms",
                                            "1000"};
  auto in_b = start_bridge("b", "host-b", in_args);
  ASSERT_TRUE(in_b->ok());
  Collector got("b", {7});
  auto pub = Client::connect(on("a"));
  ASSERT_TRUE(pub);
  // In order, once each.
  constexpr int kFirst = 500;
  for (int i = 0; i < kFirst; ++i) ASSERT_TRUE(pub->send(7, bytes(std::to_string(i))));
  const auto& first = got.until(kFirst, 10s);
  ASSERT_EQ(first.size(), std::size_t{kFirst});
  for (int i = 0; i < kFirst; ++i)
    EXPECT_EQ(first[static_cast<std::size_t>(i)].second, std::to_string(i));
  // Killed mid-stream: 3000 more while it dies and comes back.
  constexpr int kAll = 3500;
  std::thread publisher([&] {
    for (int i = kFirst; i < kAll; ++i) EXPECT_TRUE(pub->send(7, bytes(std::to_string(i))));
  });
  got.until(kFirst + 300, 10s);
  ::kill(in_b->pid(), SIGKILL);
  in_b->stop();
  in_b = start_bridge("b", "host-b", in_args);
  ASSERT_TRUE(in_b->ok());
  publisher.join();
  const auto& all = got.until(kAll, 15s);
  got.settle(1500ms);  // (nothing more, twice or otherwise)
  std::vector<int> count(kAll, 0);
  for (const auto& [type, text] : all)
    ++count.at(static_cast<std::size_t>(std::atoi(text.c_str())));
  int lost = 0;
  int twice = 0;
  for (int c : count) {
    lost += c == 0 ? 1 : 0;
    twice += c > 1 ? 1 : 0;
  }
  EXPECT_EQ(lost, 0);
  EXPECT_LE(twice, 1);
  EXPECT_EQ(all.size(), std::size_t{kAll} + static_cast<std::size_t>(twice));
  const std::string m = scrape(*in_b);
  std::printf("after the restart: %s redelivered, %s dropped as already on the bus, %d twice\n",
              metric(m, R"(ferry_bridge_redeliveries_total{route="in 7"})").c_str(),
              metric(m, R"(ferry_bridge_duplicates_total{route="in 7"})").c_str(), twice);
}

// A 3-node nats-server cluster (JetStream, file storage, 3 replicas) on loopback: the node
// the sending bridge uses is frozen mid-stream while the bridge goes on publishing to it (no
// acknowledgement comes back), then killed; the bridge goes on through the others, sending
// again what was never acknowledged, and nothing is lost or doubled.
TEST_F(Bridged, AClusterNodeKilledMidStreamLosesNothing) {
  nats_.reset();
  PortReservation cluster[3];
  std::string routes;
  for (auto& c : cluster) routes += (routes.empty() ? "" : ",") + ("nats://" + c.address());
  for (auto& c : cluster) c.release();
  std::vector<std::unique_ptr<NatsServer>> nodes;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "n" + std::to_string(i);
    nodes.push_back(std::make_unique<NatsServer>(
        session_.dir() + "/" + name,
        std::vector<std::string>{"-n", name, "-js", "-sd", session_.dir() + "/" + name + "/js",
                                 "--cluster_name", "ferry", "--cluster",
                                 "nats://" + cluster[i].address(), "--routes", routes}));
    ASSERT_TRUE(nodes.back()->ready()) << nodes.back()->log();
  }
  const std::vector<std::string> servers = {"--server",      nodes[0]->url(), "--server",
                                            nodes[1]->url(), "--server",      nodes[2]->url()};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), servers.begin(), servers.end());
    args.insert(args.end(), {"--stream-replicas", "3", "--ack-wait-ms", "1000"});
    return args;
  };
  // The stream's leader is elected once the cluster has met: a bridge retries until then.
  std::unique_ptr<test::FerrydProcess> out_a;
  for (int attempt = 0; attempt < 60; ++attempt) {
    out_a = start_bridge("a", "host-a", with({"--route", "out 7 delivery=jetstream"}));
    if (out_a->ok()) break;
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(out_a->ok()) << test::read_file(session_.dir() + "/bridge-host-a.log");
  auto in_b = start_bridge("b", "host-b", with({"--route", "in 7 delivery=jetstream"}));
  ASSERT_TRUE(in_b->ok()) << test::read_file(session_.dir() + "/bridge-host-b.log");
  Collector got("b", {7});
  auto pub = Client::connect(on("a"));
  ASSERT_TRUE(pub);
  constexpr int kAll = 3000;
  std::thread publisher([&] {
    for (int i = 0; i < kAll; ++i) {
      EXPECT_TRUE(pub->send(7, bytes(std::to_string(i))));
      if (i % 100 == 0) std::this_thread::sleep_for(20ms);  // about 2 s of traffic
    }
  });
  got.until(500, 20s);
  // The node the sending bridge is connected to (it picks one of the three at random).
  const auto started = test::log_events(session_.dir() + "/bridge-host-a.log", "started");
  ASSERT_FALSE(started.empty());
  const std::string used = started.back().value("nats", "");
  const auto node =
      std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n->url() == used; });
  ASSERT_NE(node, nodes.end()) << used;
  const auto out_messages = [&] {
    return std::atoi(
        metric(scrape(*out_a), R"(ferry_bridge_messages_total{direction="out",route="out 7"})")
            .c_str());
  };
  (*node)->freeze();
  // Publications the frozen node takes into its socket and never acknowledges.
  const int before = out_messages();
  ASSERT_TRUE(test::wait_for([&] { return out_messages() >= before + 200; }, 20s))
      << before << " then " << out_messages();
  (*node)->kill();
  publisher.join();
  const auto& all = got.until(kAll, 30s);
  got.settle(1500ms);
  std::vector<int> count(kAll, 0);
  for (const auto& [type, text] : all) {
    ++count.at(static_cast<std::size_t>(std::atoi(text.c_str())));
  }
  EXPECT_EQ(std::count(count.begin(), count.end(), 0), 0) << "lost";
  EXPECT_EQ(std::count_if(count.begin(), count.end(), [](int c) { return c > 1; }), 0) << "twice";
  EXPECT_GE(std::atoi(metric(scrape(*out_a), "ferry_bridge_nats_reconnects_total").c_str()), 1);
}

// A bus that cannot keep up (its ferryd stopped with SIGSTOP) behind a receiving bridge
// whose subscriptions may hold 100 messages: the NATS client drops beyond that, and the
// bridge says so in its metrics and its log, while it keeps running.
TEST_F(Bridged, ASlowConsumerShowsInMetricsAndLogs) {
  auto out_a = start_bridge("a", "host-a", {"--route", "out 7"});
  auto in_b = start_bridge("b", "host-b", {"--route", "in 7", "--pending-limit", "100"});
  ASSERT_TRUE(out_a->ok());
  ASSERT_TRUE(in_b->ok());
  Collector got("b", {7});
  auto pub = Client::connect(on("a"));
  ASSERT_TRUE(pub);
  ::kill(bus_b_->pid(), SIGSTOP);
  for (int i = 0; i < 20'000; ++i) ASSERT_TRUE(pub->send(7, bytes(std::to_string(i))));
  std::string m;
  const bool reported = test::wait_for([&] {
    m = scrape(*in_b);
    return std::atoi(metric(m, R"(ferry_bridge_slow_consumer_total{route="in 7"})").c_str()) > 0;
  });
  ::kill(bus_b_->pid(), SIGCONT);
  EXPECT_TRUE(reported) << m;
  EXPECT_FALSE(test::log_events(session_.dir() + "/bridge-host-b.log", "slow_consumer").empty());
  // Still working: what comes now arrives.
  got.settle(2s);
  ASSERT_TRUE(pub->send(7, bytes("after")));
  bool after = false;
  for (int i = 0; i < 50 && !after; ++i) {
    for (const auto& [type, text] : got.until(1, 1s)) after |= text == "after";
    if (!after) got.settle(200ms);
  }
  EXPECT_TRUE(after);
}

// No NATS server: one line that says which servers and why, and exit status 1.
TEST_F(Bridged, NoReachableServerIsOneClearLine) {
  PortReservation nobody;
  const std::string log = session_.dir() + "/bridge-nowhere.log";
  auto [out, status] =
      test::run(std::string(BRIDGE_PATH) + " --session a --route 'out 7' --server nats://" +
                nobody.address() + " --connect-timeout-ms 500 --log-format text 2>&1");
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("cannot connect to nats://" + nobody.address()), std::string::npos) << out;
}

// A bad route is refused before anything starts, in one line naming it.
TEST_F(Bridged, ABadRouteIsOneClearLine) {
  auto [out, status] =
      test::run(std::string(BRIDGE_PATH) + " --session a --route 'out 7 subject=orders.*' 2>&1");
  EXPECT_EQ(status, 2) << out;
  EXPECT_NE(out.find("wildcard"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace ferry
