// SPDX-License-Identifier: Apache-2.0
// ferryd's Prometheus exporter (--metrics-listen) against the real thing: its /metrics page
// passes `promtool check metrics` and counts exactly the test's traffic, a real Prometheus
// server (Debian's `prometheus`, started and stopped here) scrapes it and its HTTP API sees
// the counter move, and the ways to get the address wrong are refused with a clear message.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kType = 9;

using test::run;

#ifdef FERRY_METRICS_BUILT

// A TCP socket bound to a loopback port of the kernel's choice: the descriptor and the port
// (-1 and 0 if that failed).
std::pair<int, int> bound_loopback_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||  // NOLINT
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {         // NOLINT
    if (fd >= 0) ::close(fd);
    return {-1, 0};
  }
  return {fd, ntohs(a.sin_port)};
}

// A loopback port nobody listens on right now.
int free_port() {
  const auto [fd, port] = bound_loopback_socket();
  if (fd >= 0) ::close(fd);
  return port;
}

// GET http://127.0.0.1:<port><path> (curl, from Debian); the body, or "" if unreachable.
std::string http_get(int port, const std::string& path) {
  auto [body, rc] =
      run("curl -sf --max-time 5 'http://127.0.0.1:" + std::to_string(port) + path + "'");
  return rc == 0 ? body : std::string();
}

// Each look runs curl: a look every 50 ms, until a deadline that only catches a hang.
std::string wait_for_page(int port, const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + test::kPatience;
  for (;;) {
    std::string body = http_get(port, path);
    if (!body.empty() || std::chrono::steady_clock::now() >= deadline) return body;
    std::this_thread::sleep_for(50ms);
  }
}

// The value of the sample `name{labels...}` whose labels include `has`, or -1.
double sample(const std::string& page, const std::string& name, const std::string& has) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name + "{") || line.find(has) == std::string::npos) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

void publish(int n) {
  ClientOptions o;
  o.name = "metrics-traffic";
  auto c = Client::connect(o);
  ASSERT_TRUE(c) << c.error().message();
  const std::vector<std::byte> payload(100, std::byte{7});
  for (int i = 0; i < n; ++i) ASSERT_TRUE(c->send(kType, payload));
  // Closing waits for nothing; the server counts what it handled, so wait for that.
  test::wait_for([&] { return c->acknowledged() >= static_cast<std::uint64_t>(n); });
  ASSERT_EQ(c->acknowledged(), static_cast<std::uint64_t>(n));
}

// The real Prometheus server, scraping one target every second, in a private directory.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, int target_port) : port_(free_port()) {
    const std::string config = dir + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          << "scrape_configs:\n  - job_name: ferryd\n    static_configs:\n"
                          << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) std::_Exit(99);
      const std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
      const std::string file = "--config.file=" + config;
      const std::string data = "--storage.tsdb.path=" + dir + "/data";
      ::execlp("prometheus", "prometheus", file.c_str(), data.c_str(), listen.c_str(),
               "--log.level=warn", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
  }
  ~PrometheusServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;
  int port() const { return port_; }

  // The value of an instant query with one result, or -1 (none yet).
  double query(const std::string& promql) {
    std::string encoded;
    for (const char ch : promql) {
      if (std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '_') {
        encoded += ch;
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(ch));
        encoded += hex;
      }
    }
    const std::string body = http_get(port_, "/api/v1/query?query=" + encoded);
    if (body.empty()) return -1;
    const auto j = nlohmann::json::parse(body);
    if (j["status"] != "success" || j["data"]["result"].size() != 1) return -1;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

// When ferryd wrote a log line ("time": "2026-12-04T21:28:28.283524Z", UTC).
std::chrono::system_clock::time_point log_time(const nlohmann::json& line) {
  const std::string t = line.value("time", "");
  std::tm tm{};
  int micros = 0;
  EXPECT_EQ(std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &micros),
            7)
      << t;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::microseconds(micros);
}

TEST(Metrics, PagePassesPromtoolAndCountsExactlyTheTraffic) {
  test::ScopedSession session("metrics");
  // A dead owner's lock file: ferryd's start-up clean-up removes it, and counts it.
  auto dir = session_dir("metrics", true);
  ASSERT_TRUE(dir) << dir.error().message();
  std::ofstream(*dir + "/gone.lock") << "999999\n";
  const int port = free_port();
  const std::string log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(
      log, {"--metrics-listen", "127.0.0.1:" + std::to_string(port), "--metrics-histogram"}));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  std::string page = wait_for_page(port, "/metrics");
  ASSERT_FALSE(page.empty()) << "nothing at http://127.0.0.1:" << port << "/metrics";
  EXPECT_EQ(sample(page, "ferry_messages_total", "direction=\"in\""), 0) << page;

  publish(300);
  page = http_get(port, "/metrics");
  const std::string in = "direction=\"in\"";
  EXPECT_EQ(sample(page, "ferry_messages_total", in), 300) << page;
  EXPECT_EQ(sample(page, "ferry_bytes_total", in), 300 * 100) << page;
  EXPECT_EQ(sample(page, "ferry_connections_accepted_total", "endpoint=\"bus\""), 1);
  EXPECT_EQ(sample(page, "ferry_connections_lost_total", "endpoint=\"bus\""), 1);
  EXPECT_EQ(sample(page, "ferry_connections_active", "endpoint=\"bus\""), 0);
  EXPECT_EQ(sample(page, "ferry_connections_rejected_total", "reason=\"version\""), 0);
  EXPECT_EQ(sample(page, "ferry_frame_errors_total", in), 0);
  EXPECT_GE(sample(page, "ferry_wakeup_syscalls_total", in), 0);
  EXPECT_NE(page.find("session=\"metrics\""), std::string::npos);
  // One handler call in 16 is timed: 300 messages, 18 or 19 samples.
  EXPECT_NE(page.find("ferry_handler_duration_seconds_bucket{"), std::string::npos) << page;
  const double timed = sample(page, "ferry_handler_duration_seconds_count", "endpoint=\"bus\"");
  EXPECT_GE(timed, 300 / 16) << page;
  EXPECT_LE(timed, 300 / 16 + 1) << page;
  EXPECT_EQ(sample(page, "ferry_stale_objects_removed_total", "endpoint=\"bus\""), 1) << page;
  // The bus's own counters: the 300 went to nobody, so nothing was dropped.
  EXPECT_EQ(sample(page, "ferry_bus_published_total", "endpoint=\"bus\""), 300) << page;
  EXPECT_EQ(sample(page, "ferry_bus_deliveries_dropped_total", "endpoint=\"bus\""), 0) << page;
  EXPECT_EQ(sample(page, "ferry_bus_slow_subscribers_total", "action=\"disconnect\""), 0) << page;
  EXPECT_EQ(sample(page, "ferry_bus_requests_failed_total", "reason=\"expired\""), 0) << page;
  EXPECT_EQ(sample(page, "ferry_bus_requests_outstanding", "endpoint=\"bus\""), 0) << page;
  EXPECT_FALSE(std::filesystem::exists(*dir + "/gone.lock"));
  EXPECT_EQ(page.find("payload"), std::string::npos);

  const std::string file = session.dir() + "/metrics.txt";
  std::ofstream(file) << page;
  auto [lint, rc] = run("promtool check metrics < " + file + " 2>&1");
  EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << lint;

  // The exporter does not hold ferryd up when it stops (civetweb alone would wait for its
  // 2 s poll to end): measured from the signal to ferryd's "stopped" line, which it writes
  // once the exporter is gone (what follows, the exit, can take a second of its own on a
  // machine busy with other work).
  const auto stopping = std::chrono::system_clock::now();
  EXPECT_EQ(ferryd.stop(), 0);
  const auto stopped = test::log_events(log, "stopped");
  ASSERT_EQ(stopped.size(), 1u) << test::read_file(log);
  EXPECT_LT(log_time(stopped.front()) - stopping, 1s) << stopped.front().dump();
}

TEST(Metrics, ARealPrometheusScrapesFerrydAndSeesTheCounterMove) {
  test::ScopedSession session("scraped");
  const int port = free_port();
  test::FerrydProcess ferryd({"--metrics-listen", std::to_string(port)});  // loopback
  ASSERT_TRUE(ferryd.ok());
  ASSERT_FALSE(wait_for_page(port, "/metrics").empty());
  PrometheusServer prometheus(session.dir(), port);
  const std::string query = "ferry_messages_total{session=\"scraped\",direction=\"in\"}";

  publish(250);
  double seen = -1;
  for (int i = 0; i < 600 && seen != 250; ++i) {  // Prometheus starts, then scrapes each second
    std::this_thread::sleep_for(100ms);
    seen = prometheus.query(query);
  }
  ASSERT_EQ(seen, 250) << "Prometheus at 127.0.0.1:" << prometheus.port()
                       << " never saw the 250 messages";
  publish(125);
  const auto deadline = std::chrono::steady_clock::now() + 60s;  // as long as the first time
  while (seen != 375 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    seen = prometheus.query(query);
  }
  EXPECT_EQ(seen, 375);
  EXPECT_EQ(prometheus.query("up{job=\"ferryd\"}"), 1);
  EXPECT_EQ(prometheus.query("ferry_connections_lost_total{session=\"scraped\"}"), 2);
}

TEST(Metrics, AnAddressInUseStopsFerrydWithAClearMessage) {
  test::ScopedSession session("busy");
  const auto [fd, port] = bound_loopback_socket();
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  const std::string busy = "127.0.0.1:" + std::to_string(port);
  auto [out, rc] =
      run(std::string("timeout 20 ") + FERRYD_PATH + " --metrics-listen " + busy + " 2>&1");
  ::close(fd);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("\"event\":\"start_failed\""), std::string::npos) << out;
  EXPECT_NE(out.find("cannot listen on " + busy + ": Address already in use"), std::string::npos)
      << out;
  EXPECT_FALSE(std::filesystem::exists(session.dir() + "/ferry/busy/bus.sock"))
      << "ferryd left its socket behind";
}

#else

TEST(Metrics, ABuildWithoutMetricsRefusesThemWithAClearMessage) {
  test::ScopedSession session("nometrics");
  auto [out, rc] = run(std::string("timeout 20 ") + FERRYD_PATH + " --metrics-listen 9464 2>&1");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("built without metrics"), std::string::npos) << out;
}

#endif

TEST(Metrics, BadAddressesAreUsageErrorsNamingTheFix) {
  const std::pair<const char*, const char*> cases[] = {
      {"localhost:9464", "the address must be a numeric IPv4 address"},
      {"127.0.0.1:65536", "the port must be a number from 0 to 65535"},
      {"127.0.0.1:", "the port must be a number"},
      {"[::1]:9464", "IPv6 addresses are not supported"},
      {"host:9464", "the address must be a numeric IPv4 address"},
  };
  for (const auto& [address, why] : cases) {
    auto [out, rc] =
        run(std::string("timeout 20 ") + FERRYD_PATH + " --metrics-listen '" + address + "' 2>&1");
    EXPECT_EQ(rc, 2) << address << ": " << out;
    EXPECT_NE(out.find(why), std::string::npos) << address << ": " << out;
    EXPECT_NE(out.find("e.g. 127.0.0.1:9464"), std::string::npos) << address << ": " << out;
  }
}

}  // namespace
}  // namespace ferry
