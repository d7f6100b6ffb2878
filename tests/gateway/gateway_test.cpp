// SPDX-License-Identifier: Apache-2.0
// tests/gateway/gateway_test.cpp: two buses (two ferryds, two sessions) joined by two
// ferry-gateways on loopback, all real processes: requests and publications both ways,
// every message checked; the errors a requester meets (type not accepted by the peer, no
// service there, the peer gone) and what the listener says to a request that is not a
// ferry.v1 Upgrade.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "support/endpoint_support.hpp"
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

// The Python client of tests/gateway/ferry_v1_client.py, written from the protocol's
// document alone, against gateway b: `args` after the URL; its output and exit status.
std::pair<std::string, int> python_client(const test::FerrydProcess& gateway,
                                          const std::string& args) {
  const std::string listen = status_of(gateway.ready_message(), "listening on ");
  return test::run("/usr/bin/python3 " + std::string(GATEWAY_TEST_DIR) +
                   "/ferry_v1_client.py ws://" + listen + "/ " + args + " 2>&1");
}

// Two sessions, "a" and "b", each with its ferryd; gateways are started by the tests.
class TwoBuses : public test::BusPair {
 protected:
  // A gateway on `session`'s bus, listening on `mine`, with `args` after the common ones.
  std::unique_ptr<test::FerrydProcess> start_gateway(const std::string& session,
                                                     const PortReservation& mine,
                                                     std::vector<std::string> args) {
    test::FerrydOptions o;
    o.binary = GATEWAY_PATH;
    o.log = session_.dir() + "/gateway-" + session + ".log";
    o.args = {"--session",
              session,
              "--node",
              "host-" + session,
              "--listen",
              mine.address(),
              "--request-timeout-ms",
              "3000",
              "--log-level",
              "debug"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    return std::make_unique<test::FerrydProcess>(o);
  }
};

// Each bus with its gateway (ws:// on loopback); each routes its types to the other and
// accepts the other's.
class GatewayPair : public TwoBuses {
 protected:
  void SetUp() override {
    TwoBuses::SetUp();
    if (HasFatalFailure()) return;
    gw_a_ = start_gateway(
        "a", port_a_,
        {"--plain", "--metrics-listen", "127.0.0.1:0", "--upstream",
         "b=ws://" + port_b_.address() + "/", "--route", "publish 7 b", "--route", "request 8 b",
         "--route", "request 9 b", "--route", "request 10 b", "--accept", "17", "--accept", "18"});
    gw_b_ =
        start_gateway("b", port_b_,
                      {"--plain", "--metrics-listen", "127.0.0.1:0", "--upstream",
                       "a=ws://" + port_a_.address() + "/", "--route", "publish 17 a", "--route",
                       "request 18 a", "--accept", "7", "--accept", "8", "--accept", "10"});
    ASSERT_TRUE(gw_a_->ok());
    ASSERT_TRUE(gw_b_->ok());
    port_a_.release();
    port_b_.release();
    // Each started before the other listened: its first connects may have failed, and a pool
    // whose connects keep failing counts its upstream as down (what waits for it fails at
    // once) until a probe gets through. The tests begin once both pools have a connection.
    wait_open(*gw_a_, "b");
    wait_open(*gw_b_, "a");
  }

  static void wait_open(const test::FerrydProcess& gateway, const std::string& upstream) {
    const std::string url = status_of(gateway.ready_message(), "metrics on ");
    const std::string series =
        "ferry_gateway_pool_connections{upstream=\"" + upstream + "\",state=\"idle\"}";
    std::string text;
    ASSERT_TRUE(test::wait_for([&] {
      text = test::run("curl -sS --max-time 5 " + url).first;
      return metric(text, series) != "0" && metric(text, series) != "(missing)";
    })) << text;
  }

  PortReservation port_a_;
  PortReservation port_b_;
  std::unique_ptr<test::FerrydProcess> gw_a_;
  std::unique_ptr<test::FerrydProcess> gw_b_;
};

TEST_F(GatewayPair, SaysWhereItListens) {
  EXPECT_NE(gw_a_->ready_message().find("STATUS=listening on 127.0.0.1:"), std::string::npos)
      << gw_a_->ready_message();
}

TEST_F(GatewayPair, RequestsCrossBothWaysAndEveryReplyIsTheRightOne) {
  Responder on_b("b", 8, "b:");
  Responder on_a("a", 18, "a:");
  ASSERT_TRUE(on_b.ok());
  ASSERT_TRUE(on_a.ok());
  auto a = Client::connect(on("a"));
  auto b = Client::connect(on("b"));
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 200; ++i) {
    const std::string q = "question " + std::to_string(i);
    auto r = a->request(8, bytes(q), 5s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->text(), "b:" + q);
    auto back = b->request(18, bytes(q), 5s);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->text(), "a:" + q);
  }
  // Many in flight at once, from one client: replies matched by correlation id.
  std::map<std::uint32_t, std::string> sent;
  for (int i = 0; i < 300; ++i) {
    const std::string q = "async " + std::to_string(i);
    auto corr = a->send_request(8, bytes(q));
    ASSERT_TRUE(corr) << corr.error().message();
    sent[*corr] = q;
  }
  std::size_t answered = 0;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (answered < sent.size() && std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(a->wait(
        [&](const Message& m) {
          ASSERT_TRUE(m.is_reply());
          ASSERT_FALSE(m.is_error()) << m.text();
          EXPECT_EQ(m.text(), "b:" + sent.at(m.correlation));
          ++answered;
        },
        100ms));
  }
  EXPECT_EQ(answered, sent.size());
}

// Prometheus metrics of the pool, checked by value and by promtool (Debian's prometheus).
TEST_F(GatewayPair, MetricsShowThePoolAndPassPromtool) {
  Responder on_b("b", 8, "b:");
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(a->request(8, bytes("m"), 5s));
  const std::string url = status_of(gw_a_->ready_message(), "metrics on ");
  ASSERT_FALSE(url.empty()) << gw_a_->ready_message();
  auto [text, status] = test::run("curl -sS --max-time 5 " + url);
  ASSERT_EQ(status, 0) << text;
  const auto value = [&](const std::string& series) { return metric(text, series); };
  EXPECT_EQ(value(R"(ferry_gateway_pool_requests_total{upstream="b"})"), "20") << text;
  EXPECT_EQ(value(R"(ferry_gateway_pool_up{upstream="b"})"), "1");
  EXPECT_EQ(value(R"(ferry_gateway_pool_connections{upstream="b",state="idle"})"), "1");
  EXPECT_EQ(value(R"(ferry_gateway_pool_request_seconds_count{upstream="b"})"), "20");
  EXPECT_EQ(value(R"(ferry_gateway_pool_connects_total{upstream="b",result="ok"})"), "1");
  // All but the first request, which may have waited for the first connection, reused one.
  EXPECT_GE(std::stoi(value(R"(ferry_gateway_pool_reused_total{upstream="b"})")), 19);
  auto [lint, lint_status] =
      test::run("curl -sS --max-time 5 " + url + " | promtool check metrics 2>&1");
  EXPECT_EQ(lint_status, 0) << lint;
}

// A request carries a W3C traceparent across the link: the trace id a's log gives it is the
// one b's log gives it, so one request can be followed from host to host.
TEST_F(GatewayPair, ARequestsTraceIdIsTheSameInBothGatewaysLogs) {
  Responder on_b("b", 8, "b:");
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->request(8, bytes("traced"), 5s));
  std::string sent;
  std::string received;
  for (int i = 0; i < 50 && (sent.empty() || received.empty()); ++i) {
    const auto out = test::log_events(session_.dir() + "/gateway-a.log", "request");
    const auto in = test::log_events(session_.dir() + "/gateway-b.log", "request");
    if (!out.empty()) sent = out.back().value("trace_id", "");
    if (!in.empty()) received = in.back().value("trace_id", "");
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(sent.size(), 32u) << sent;
  EXPECT_EQ(sent, received);
}

TEST_F(GatewayPair, PublicationsArriveOnceInOrderBothWays) {
  auto sub_b = Client::connect(on("b"));
  auto sub_a = Client::connect(on("a"));
  ASSERT_TRUE(sub_b && sub_a);
  ASSERT_TRUE(sub_b->subscribe(7));
  ASSERT_TRUE(sub_a->subscribe(17));
  auto pub_a = Client::connect(on("a"));
  auto pub_b = Client::connect(on("b"));
  ASSERT_TRUE(pub_a && pub_b);
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(pub_a->send(7, bytes("a" + std::to_string(i) + std::string(100, 'x'))));
    ASSERT_TRUE(pub_b->send(17, bytes("b" + std::to_string(i))));
  }
  const auto receive = [](Client& c, const std::string& prefix, const std::string& tail) {
    int next = 0;
    const auto until = std::chrono::steady_clock::now() + 15s;
    while (next < kCount && std::chrono::steady_clock::now() < until) {
      EXPECT_TRUE(c.wait(
          [&](const Message& m) {
            EXPECT_EQ(m.text(), prefix + std::to_string(next) + tail) << "out of order or corrupt";
            ++next;
          },
          100ms));
    }
    return next;
  };
  EXPECT_EQ(receive(*sub_b, "a", std::string(100, 'x')), kCount);
  EXPECT_EQ(receive(*sub_a, "b", ""), kCount);
}

// The local bus dies and comes back: the gateway's client reconnects by itself, serves its
// routed types again, and requests cross once more (its event loop watches the new
// connection, not the dead one).
TEST_F(GatewayPair, ARestartedLocalBusIsUsedAgain) {
  Responder on_b("b", 8, "b:");
  {
    auto a = Client::connect(on("a"));
    ASSERT_TRUE(a);
    ASSERT_TRUE(a->request(8, bytes("before"), 5s));
  }
  EXPECT_EQ(bus_a_->stop(SIGKILL), 128 + SIGKILL);
  bus_a_ = std::make_unique<test::FerrydProcess>(
      test::with_log(session_.dir() + "/ferryd-a.log", {"--session", "a"}));
  ASSERT_TRUE(bus_a_->ok());
  std::string answer;
  for (int i = 0; i < 50 && answer != "b:again"; ++i) {
    auto a = Client::connect(on("a"));
    auto r = a ? a->request(8, bytes("again"), 1s) : Result<Reply>(a.error());
    if (r) {
      answer = std::string(r->text());
    } else {
      answer = r.error().message();
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_EQ(answer, "b:again");
  // Both ways still: b's requests reach a's bus through the same gateway.
  Responder on_a("a", 18, "a:");
  auto b = Client::connect(on("b"));
  ASSERT_TRUE(b);
  auto back = b->request(18, bytes("to a"), 5s);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->text(), "a:to a");
}

TEST_F(GatewayPair, ARequesterIsToldWhyInWordsItCanActOn) {
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  auto refused = a->request(9, bytes("?"), 5s);  // routed by a, not accepted by b
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.code(), Errc::remote);
  EXPECT_NE(refused.error().message().find("message type 9 is not accepted from peers by host-b"),
            std::string::npos)
      << refused.error().message();
  auto nobody = a->request(10, bytes("?"), 5s);  // accepted by b, but nobody serves it there
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.code(), Errc::remote);
  EXPECT_NE(nobody.error().message().find("10"), std::string::npos) << nobody.error().message();
}

TEST_F(GatewayPair, APeerGoneFailsRequestsWithinTheTimeoutNamingTheUpstream) {
  Responder on_b("b", 8, "b:");
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->request(8, bytes("before"), 5s));
  EXPECT_EQ(gw_b_->stop(SIGKILL), 128 + SIGKILL);
  const auto start = std::chrono::steady_clock::now();
  auto r = a->request(8, bytes("after"), 10s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.code(), Errc::remote) << r.error().message();
  EXPECT_NE(r.error().message().find("upstream b"), std::string::npos) << r.error().message();
  EXPECT_LT(took, 4s) << "not failed within the gateway's request timeout (3 s)";
}

// A stopped peer (SIGSTOP: the TCP connection stays up, nothing answers) is found by the
// health checks: its connection is ejected within ping interval + timeout, and a request
// waiting on it fails then, saying so, instead of at the request timeout.
TEST_F(TwoBuses, AStalledPeerIsEjectedByTheHealthChecks) {
  PortReservation port_a;
  PortReservation port_b;
  Responder on_b("b", 8, "b:");
  auto gw_b = start_gateway("b", port_b, {"--plain", "--accept", "8"});
  ASSERT_TRUE(gw_b->ok());
  port_b.release();
  auto gw_a = start_gateway("a", port_a,
                            {"--plain", "--upstream", "b=ws://" + port_b.address() + "/", "--route",
                             "request 8 b", "--ping-interval-ms", "200", "--ping-timeout-ms", "300",
                             "--eject-after", "1", "--request-timeout-ms", "20000"});
  ASSERT_TRUE(gw_a->ok());
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->request(8, bytes("awake"), 5s));
  ASSERT_EQ(::kill(gw_b->pid(), SIGSTOP), 0);
  const auto start = std::chrono::steady_clock::now();
  auto r = a->request(8, bytes("asleep"), 30s);
  const auto took = std::chrono::steady_clock::now() - start;
  ::kill(gw_b->pid(), SIGCONT);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no pong to 1 pings in a row"), std::string::npos)
      << r.error().message();
  EXPECT_LT(took, 5s) << "not ejected by the health checks (interval 200 ms, timeout 300 ms)";
}

// A peer that sends requests and does not read the replies is cut off once queue_bytes of
// them wait, and counted; everyone else is still served.
TEST_F(TwoBuses, APeerThatDoesNotReadIsCutOffAndOthersAreServed) {
  PortReservation port_a;
  PortReservation port_b;
  Responder on_b("b", 8, "");
  auto gw_b = start_gateway(
      "b", port_b,
      {"--plain", "--accept", "8", "--queue-bytes", "65536", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(gw_b->ok());
  port_b.release();
  auto gw_a = start_gateway(
      "a", port_a,
      {"--plain", "--upstream", "b=ws://" + port_b.address() + "/", "--route", "request 8 b"});
  ASSERT_TRUE(gw_a->ok());
  const std::string url = status_of(gw_b->ready_message(), "metrics on ");
  auto [closed, status] = python_client(*gw_b, "8 x --flood " + url);
  EXPECT_EQ(status, 0) << closed;
  EXPECT_NE(closed.find("1013 the peer is too slow"), std::string::npos) << closed;
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  auto r = a->request(8, bytes("still served"), 5s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->text(), "still served");
  const std::string text = test::run("curl -sS --max-time 5 " + url).first;
  EXPECT_EQ(metric(text, "ferry_gateway_cut_off_total"), "1") << text;
}

// An upstream that answers pings but not the request: the requester hears so after the
// gateway's own request timeout, not the peer's.
TEST_F(TwoBuses, AnUnansweredRequestFailsAtTheGatewaysTimeout) {
  PortReservation port_a;
  PortReservation port_b;
  Responder never("b", 8, "", 30s);
  auto gw_b =
      start_gateway("b", port_b, {"--plain", "--accept", "8", "--request-timeout-ms", "20000"});
  ASSERT_TRUE(gw_b->ok());
  port_b.release();
  auto gw_a = start_gateway("a", port_a,
                            {"--plain", "--upstream", "b=ws://" + port_b.address() + "/", "--route",
                             "request 8 b", "--request-timeout-ms", "500"});
  ASSERT_TRUE(gw_a->ok());
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  const auto start = std::chrono::steady_clock::now();
  auto r = a->request(8, bytes("anyone?"), 10s);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no reply from upstream b within 500 ms"), std::string::npos)
      << r.error().message();
  EXPECT_LT(took, 5s);
}

// The pool grows while every connection has pool_max_inflight requests waiting and shrinks
// back to pool_min once the extra connections are idle.
TEST_F(TwoBuses, ThePoolGrowsUnderLoadAndShrinksWhenIdle) {
  PortReservation port_a;
  PortReservation port_b;
  Responder slow("b", 8, "", 100ms);
  auto gw_b = start_gateway("b", port_b, {"--plain", "--accept", "8"});
  ASSERT_TRUE(gw_b->ok());
  port_b.release();
  auto gw_a =
      start_gateway("a", port_a,
                    {"--plain", "--upstream", "b=ws://" + port_b.address() + "/", "--route",
                     "request 8 b", "--pool-min", "1", "--pool-max", "4", "--pool-max-inflight",
                     "1", "--pool-idle-timeout-ms", "300", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(gw_a->ok());
  const std::string url = status_of(gw_a->ready_message(), "metrics on ");
  const auto scrape = [&](const std::string& series) {
    return metric(test::run("curl -sS --max-time 5 " + url).first, series);
  };
  const std::string busy = R"(ferry_gateway_pool_connections{upstream="b",state="busy"})";
  const std::string idle = R"(ferry_gateway_pool_connections{upstream="b",state="idle"})";
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->request(8, bytes("first"), 5s));
  // Four at a time for a while: the pool opens connections up to pool_max.
  int most = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::uint32_t> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(a->send_request(8, bytes("x")).value());
    std::size_t answered = 0;
    while (answered < ids.size()) {
      ASSERT_TRUE(a->wait(
          [&](const Message& m) {
            EXPECT_FALSE(m.is_error()) << m.text();
            ++answered;
          },
          5s));
      most = std::max(most, std::atoi(scrape(busy).c_str()) + std::atoi(scrape(idle).c_str()));
    }
  }
  EXPECT_GE(most, 3) << "the pool did not grow under load";
  // Idle: back to pool_min.
  std::string open;
  for (int i = 0; i < 50; ++i) {
    open = scrape(idle);
    if (open == "1") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(open, "1") << "the pool did not shrink back to pool_min";
}

// A pool fills to pool_min several connects at a time, and opens no more than that.
TEST_F(TwoBuses, ThePoolFillsToPoolMinAndNoFurther) {
  PortReservation port_a;
  PortReservation port_b;
  auto gw_b = start_gateway("b", port_b, {"--plain", "--accept", "8"});
  ASSERT_TRUE(gw_b->ok());
  port_b.release();
  auto gw_a = start_gateway(
      "a", port_a,
      {"--plain", "--upstream", "b=ws://" + port_b.address() + "/", "--route", "request 8 b",
       "--pool-min", "20", "--pool-max", "30", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(gw_a->ok());
  const std::string url = status_of(gw_a->ready_message(), "metrics on ");
  const std::string idle = R"(ferry_gateway_pool_connections{upstream="b",state="idle"})";
  const std::string connects = R"(ferry_gateway_pool_connects_total{upstream="b",result="ok"})";
  std::string text;
  for (int i = 0; i < 300 && metric(text, idle) != "20"; ++i) {
    if (i > 0) std::this_thread::sleep_for(100ms);
    text = test::run("curl -sS --max-time 5 " + url).first;
  }
  ASSERT_EQ(metric(text, idle), "20") << text;
  // A while later: still those 20, and never a 21st.
  std::this_thread::sleep_for(500ms);
  text = test::run("curl -sS --max-time 5 " + url).first;
  EXPECT_EQ(metric(text, idle), "20") << text;
  EXPECT_EQ(metric(text, connects), "20") << text;
}

// Connections older than max_lifetime are replaced (after a goaway that lets their requests
// finish) while requests flow, and none of them fails.
TEST_F(TwoBuses, OldConnectionsAreRenewedWithoutFailingARequest) {
  PortReservation port_a;
  PortReservation port_b;
  Responder on_b("b", 8, "b:");
  auto gw_b = start_gateway("b", port_b, {"--plain", "--accept", "8"});
  ASSERT_TRUE(gw_b->ok());
  port_b.release();
  auto gw_a =
      start_gateway("a", port_a,
                    {"--plain", "--upstream", "b=ws://" + port_b.address() + "/", "--route",
                     "request 8 b", "--max-lifetime-ms", "300", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(gw_a->ok());
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  const auto until = std::chrono::steady_clock::now() + 1500ms;
  int answered = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto r = a->request(8, bytes("r"), 5s);
    ASSERT_TRUE(r) << r.error().message();
    ++answered;
    std::this_thread::sleep_for(5ms);
  }
  const std::string url = status_of(gw_a->ready_message(), "metrics on ");
  const std::string text = test::run("curl -sS --max-time 5 " + url).first;
  EXPECT_GE(
      std::atoi(
          metric(text, R"(ferry_gateway_pool_connects_total{upstream="b",result="ok"})").c_str()),
      3)
      << "connections older than max_lifetime were not renewed\n"
      << text;
  EXPECT_EQ(metric(text, R"(ferry_gateway_pool_requests_failed_total{upstream="b"})"), "0");
  EXPECT_GT(answered, 50);
}

TEST_F(GatewayPair, AnythingButAFerryUpgradeGetsAnHttpErrorThatSaysWhy) {
  // (port_a_ was released after the gateway bound it; the gateway still listens there.)
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  const std::string listen = status_of(gw_a_->ready_message(), "listening on ");
  const auto colon = listen.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(listen.substr(colon + 1))));
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);  // NOLINT
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(fd, get.data(), get.size()), static_cast<ssize_t>(get.size()));
  std::string answer;
  char buf[1024];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << answer;
  EXPECT_NE(answer.find("not a WebSocket Upgrade"), std::string::npos) << answer;
  // The gateway is still there for everyone else.
  Responder on_b("b", 8, "b:");
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->request(8, bytes("still"), 5s));
}

TEST_F(GatewayPair, APythonClientWrittenFromTheDocumentTalksToIt) {
  Responder on_b("b", 8, "b:");
  auto sub = Client::connect(on("b"));
  ASSERT_TRUE(sub);
  ASSERT_TRUE(sub->subscribe(7));
  auto [reply, status] = python_client(*gw_b_, "8 hello");
  EXPECT_EQ(status, 0) << reply;
  EXPECT_EQ(reply, "b:hello\n");
  auto [refused, refused_status] = python_client(*gw_b_, "9 what");
  EXPECT_EQ(refused_status, 1) << refused;
  EXPECT_NE(refused.find("message type 9 is not accepted from peers by host-b"), std::string::npos)
      << refused;
  auto [published, publish_status] = python_client(*gw_b_, "7 from-python --publish");
  EXPECT_EQ(publish_status, 0) << published;
  std::string got;
  for (int i = 0; i < 50 && got.empty(); ++i) {
    ASSERT_TRUE(sub->wait([&](const Message& m) { got = std::string(m.text()); }, 100ms));
  }
  EXPECT_EQ(got, "from-python");
  auto [closed, closed_status] = python_client(*gw_b_, "8 hello --bad-crc");
  EXPECT_EQ(closed_status, 0) << closed;
  EXPECT_NE(closed.find("1002 protocol error: frame 1 of the message"), std::string::npos)
      << closed;
  EXPECT_NE(closed.find("crc"), std::string::npos) << closed;
}

}  // namespace
}  // namespace ferry

namespace ferry {
namespace {

// wss:// from a to b with the certificates of tests/gateway/make_certs.sh: what works, and
// each certificate problem with its own message, as the requester on a's bus reads it.
class GatewayTls : public TwoBuses {
 protected:
  static void SetUpTestSuite() {
    certs_ = "/tmp/ferry-gateway-certs-" + std::to_string(::getpid());
    const std::string make = std::string(GATEWAY_TEST_DIR) + "/make_certs.sh '" + certs_ + "'";
    ASSERT_EQ(std::system(make.c_str()), 0) << make;  // NOLINT(cert-env33-c)
  }
  static void TearDownTestSuite() {
    std::system(("rm -rf '" + certs_ + "'").c_str());  // NOLINT(cert-env33-c)
  }
  static std::string cert(const std::string& name) { return certs_ + "/" + name; }
  // The listener's flags for certificate NAME.
  static std::vector<std::string> serving(const std::string& name) {
    return {"--tls-cert", cert(name + ".crt"), "--tls-key", cert(name + ".key")};
  }

  // b listens with `b_args` (TLS), a's upstream is wss://localhost:port/ with `a_args`; a
  // serves type 8 through it and b accepts 8 (answered by a responder on b).
  void link(std::vector<std::string> b_args, std::vector<std::string> a_args) {
    PortReservation port_b;
    PortReservation port_a;
    b_args.insert(b_args.end(), {"--accept", "8"});
    gw_b_ = start_gateway("b", port_b, b_args);
    ASSERT_TRUE(gw_b_->ok());
    port_b.release();
    const std::string port = port_b.address().substr(port_b.address().rfind(':') + 1);
    a_args.insert(a_args.end(), {"--plain", "--upstream", "b=wss://localhost:" + port + "/",
                                 "--route", "request 8 b", "--connect-timeout-ms", "1000"});
    gw_a_ = start_gateway("a", port_a, a_args);
    ASSERT_TRUE(gw_a_->ok());
  }

  // What a request from a's bus gets: the reply, or the error's text.
  std::string ask() {
    auto a = Client::connect(on("a"));
    if (!a) return "cannot connect: " + a.error().message();
    auto r = a->request(8, bytes("hello"), 10s);
    return r ? std::string(r->text()) : "error: " + r.error().message();
  }

  static inline std::string certs_;
  std::unique_ptr<test::FerrydProcess> gw_a_;
  std::unique_ptr<test::FerrydProcess> gw_b_;
};

TEST_F(GatewayTls, RequestsCrossOverTlsWithAndWithoutClientCertificates) {
  Responder on_b("b", 8, "b:");
  auto b_args = serving("server");
  b_args.insert(b_args.end(),
                {"--tls-client-ca", cert("ca.crt"), "--tls-client-allow", "CN=host-a"});
  link(b_args, {"--tls-ca", cert("ca.crt"), "--tls-upstream-cert", cert("host-a.crt"),
                "--tls-upstream-key", cert("host-a.key")});
  EXPECT_EQ(ask(), "b:hello");
}

// New connections to an upstream resume the TLS session of an earlier one (a ticket), with
// and without client certificates.
TEST_F(GatewayTls, NewConnectionsResumeTheTlsSession) {
  for (const bool mutual : {false, true}) {
    Responder on_b("b", 8, "b:");
    auto b_args = serving("server");
    std::vector<std::string> a_args = {"--tls-ca", cert("ca.crt"),     "--max-lifetime-ms",
                                       "200",      "--metrics-listen", "127.0.0.1:0"};
    if (mutual) {
      b_args.insert(b_args.end(), {"--tls-client-ca", cert("ca.crt")});
      a_args.insert(a_args.end(), {"--tls-upstream-cert", cert("host-a.crt"), "--tls-upstream-key",
                                   cert("host-a.key")});
    }
    link(b_args, a_args);
    const auto until = std::chrono::steady_clock::now() + 1200ms;
    while (std::chrono::steady_clock::now() < until) {
      ASSERT_EQ(ask(), "b:hello");
      std::this_thread::sleep_for(10ms);
    }
    const std::string url = status_of(gw_a_->ready_message(), "metrics on ");
    const std::string text = test::run("curl -sS --max-time 5 " + url).first;
    const int connects = std::atoi(
        metric(text, R"(ferry_gateway_pool_connects_total{upstream="b",result="ok"})").c_str());
    const int resumed =
        std::atoi(metric(text, R"(ferry_gateway_pool_tls_resumed_total{upstream="b"})").c_str());
    EXPECT_GE(connects, 3) << text;
    EXPECT_GE(resumed, connects - 2) << (mutual ? "with" : "without") << " client certificates\n"
                                     << text;
    gw_a_.reset();
    gw_b_.reset();
  }
}

TEST_F(GatewayTls, AnUnknownCaIsNamed) {
  Responder on_b("b", 8, "b:");
  link(serving("unknown-ca"), {"--tls-ca", cert("ca.crt")});
  const std::string answer = ask();
  EXPECT_NE(answer.find("upstream b"), std::string::npos) << answer;
  EXPECT_NE(answer.find("the peer's certificate was refused: unable to get local issuer "
                        "certificate"),
            std::string::npos)
      << answer;
}

TEST_F(GatewayTls, AHostNameMismatchIsNamed) {
  Responder on_b("b", 8, "b:");
  link(serving("wrong-host"), {"--tls-ca", cert("ca.crt")});
  const std::string answer = ask();
  EXPECT_NE(answer.find("the peer's certificate was refused: hostname mismatch"), std::string::npos)
      << answer;
}

TEST_F(GatewayTls, AnExpiredCertificateIsNamed) {
  Responder on_b("b", 8, "b:");
  link(serving("expired"), {"--tls-ca", cert("ca.crt")});
  const std::string answer = ask();
  EXPECT_NE(answer.find("the peer's certificate was refused: certificate has expired"),
            std::string::npos)
      << answer;
}

TEST_F(GatewayTls, AMissingClientCertificateIsNamed) {
  Responder on_b("b", 8, "b:");
  auto b_args = serving("server");
  b_args.insert(b_args.end(), {"--tls-client-ca", cert("ca.crt")});
  link(b_args, {"--tls-ca", cert("ca.crt")});
  const std::string answer = ask();
  EXPECT_NE(answer.find("a client certificate is required and none was given"), std::string::npos)
      << answer;
}

TEST_F(GatewayTls, AClientCertificateNotAllowedIsRefusedWithHttp403) {
  Responder on_b("b", 8, "b:");
  auto b_args = serving("server");
  b_args.insert(b_args.end(),
                {"--tls-client-ca", cert("ca.crt"), "--tls-client-allow", "CN=someone-else"});
  link(b_args, {"--tls-ca", cert("ca.crt"), "--tls-upstream-cert", cert("host-a.crt"),
                "--tls-upstream-key", cert("host-a.key")});
  const std::string answer = ask();
  EXPECT_NE(answer.find("the upstream refused the Upgrade: HTTP 403: client certificate "
                        "(CN=host-a, DNS:host-a.example) is not in tls_client_allow"),
            std::string::npos)
      << answer;
}

// Raw mode: a WebSocket service that does not speak ferry.v1 (tests/gateway/raw_upstream.py,
// over TLS, answering in upper case): a publication goes out as one message and what comes
// back is published as the raw type; a request is answered by the next message.
TEST_F(GatewayTls, ARawUpstreamTakesPayloadsAndItsMessagesArePublished) {
  test::FerrydOptions o;
  o.binary = "/usr/bin/python3";
  o.args = {std::string(GATEWAY_TEST_DIR) + "/raw_upstream.py", cert("server.crt"),
            cert("server.key")};
  o.log = session_.dir() + "/raw-upstream.log";
  test::FerrydProcess upstream(o);
  ASSERT_TRUE(upstream.ok());
  const std::string& ready = upstream.ready_message();
  const std::string port = ready.substr(ready.rfind(':') + 1);
  PortReservation unused;
  gw_a_ = start_gateway(
      "a", unused,
      {"--plain", "--upstream", "feed=wss://localhost:" + port + "/;raw=19", "--tls-ca",
       cert("ca.crt"), "--route", "publish 7 feed", "--route", "request 8 feed"});
  ASSERT_TRUE(gw_a_->ok());
  auto sub = Client::connect(on("a"));
  auto pub = Client::connect(on("a"));
  ASSERT_TRUE(sub && pub);
  ASSERT_TRUE(sub->subscribe(19));
  ASSERT_TRUE(pub->send(7, bytes("quiet words")));
  std::string got;
  for (int i = 0; i < 50 && got.empty(); ++i) {
    ASSERT_TRUE(sub->wait([&](const Message& m) { got = std::string(m.text()); }, 100ms));
  }
  EXPECT_EQ(got, "QUIET WORDS");
  auto reply = pub->request(8, bytes("a question"), 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(reply->text(), "A QUESTION");
}

// nginx (Debian's nginx-light) as a TLS-terminating WebSocket reverse proxy between the
// gateways: it closes connections idle for 1 s and is reloaded while requests flow. The pool
// reconnects by itself; no request is lost to either.
TEST_F(GatewayTls, ThroughAnNginxProxyThatClosesIdleConnectionsAndReloads) {
  Responder on_b("b", 8, "b:");
  PortReservation port_b;
  PortReservation port_a;
  PortReservation port_proxy;
  gw_b_ = start_gateway("b", port_b, {"--plain", "--accept", "8"});
  ASSERT_TRUE(gw_b_->ok());
  port_b.release();
  const std::string dir = session_.dir() + "/nginx";
  ASSERT_EQ(std::system(("mkdir -p '" + dir + "/tmp'").c_str()), 0);  // NOLINT(cert-env33-c)
  const std::string conf = dir + "/nginx.conf";
  std::ofstream(conf) << "worker_processes 1;\n"
                         "pid "
                      << dir << "/nginx.pid;\nerror_log " << dir
                      << "/error.log warn;\n"
                         "events { worker_connections 64; }\n"
                         "http {\n"
                         "  access_log off;\n"
                         "  client_body_temp_path "
                      << dir << "/tmp;\n  proxy_temp_path " << dir
                      << "/tmp;\n"
                         "  server {\n"
                         "    listen "
                      << port_proxy.address()
                      << " ssl;\n"
                         "    ssl_certificate "
                      << cert("server.crt") << ";\n    ssl_certificate_key " << cert("server.key")
                      << ";\n"
                         "    location / {\n"
                         "      proxy_pass http://"
                      << port_b.address()
                      << ";\n"
                         "      proxy_http_version 1.1;\n"
                         "      proxy_set_header Upgrade $http_upgrade;\n"
                         "      proxy_set_header Connection \"upgrade\";\n"
                         "      proxy_read_timeout 1s;\n"
                         "    }\n"
                         "  }\n"
                         "}\n";
  port_proxy.release();
  // nginx does not say READY=1: start it as a plain child and wait for its port.
  const pid_t nginx = tools::fork_child([&] {
    ::execl("/usr/sbin/nginx", "nginx", "-c", conf.c_str(), "-g", "daemon off;", nullptr);
    return 127;
  });
  ASSERT_GT(nginx, 0);
  const auto stop_nginx = [&] {
    ::kill(nginx, SIGQUIT);
    (void)tools::wait_child(nginx);
  };
  const std::string proxy_port = port_proxy.address().substr(port_proxy.address().rfind(':') + 1);
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    up = test::run("curl -sk --max-time 1 -o /dev/null https://localhost:" + proxy_port + "/")
             .second == 0;
    if (!up) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(up) << test::read_file(dir + "/error.log");
  gw_a_ = start_gateway(
      "a", port_a,
      {"--plain", "--upstream", "b=wss://localhost:" + proxy_port + "/", "--tls-ca", cert("ca.crt"),
       "--route", "request 8 b", "--ping-interval-ms", "5000", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(gw_a_->ok());
  auto a = Client::connect(on("a"));
  ASSERT_TRUE(a);
  int answered = 0;
  const auto ask_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto r = a->request(8, bytes("through nginx"), 5s);
      EXPECT_TRUE(r) << r.error().message();
      if (r && r->text() == "b:through nginx") ++answered;
    }
  };
  ask_some(20);
  std::this_thread::sleep_for(1500ms);  // nginx closes the idle connection
  ask_some(20);
  ::kill(nginx, SIGHUP);  // reload: new workers, the old ones finish what they have
  ask_some(20);
  std::this_thread::sleep_for(300ms);
  ask_some(20);
  stop_nginx();
  EXPECT_EQ(answered, 80);
  // The pool did reconnect after nginx closed the idle connection.
  const std::string url = status_of(gw_a_->ready_message(), "metrics on ");
  const std::string text = test::run("curl -sS --max-time 5 " + url).first;
  const std::string connects =
      metric(text, R"(ferry_gateway_pool_connects_total{upstream="b",result="ok"})");
  EXPECT_GE(std::atoi(connects.c_str()), 2) << text;
}

}  // namespace
}  // namespace ferry
