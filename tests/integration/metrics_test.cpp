// SPDX-License-Identifier: Apache-2.0
// The Prometheus exporter, `ferry exporter` and ferryd's --metrics-listen (which runs it as
// its child), against the real thing: the /metrics page passes `promtool check metrics` and
// counts exactly the test's traffic, an application's own server is exported with its
// endpoint label and what it publishes, endpoints that start or stop between scrapes come
// and go, ferryd's exporter dies with ferryd (even by SIGKILL) and comes back when it dies
// alone, a real Prometheus server (Debian's `prometheus`, started and stopped here) scrapes
// ferryd and `ferry exporter` and its HTTP API sees the counters move, and the ways to get
// the address wrong are refused with a clear message.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <poll.h>

#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/stat.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/server_child.hpp"
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

// The value of the sample `name{labels...}` whose labels include each of `has`, or -1.
double sample(const std::string& page, const std::string& name,
              std::initializer_list<std::string> has) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name + "{")) continue;
    const std::string labels = line.substr(0, line.rfind(' '));
    bool all = true;
    for (const std::string& h : has) all = all && labels.find(h) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}
double sample(const std::string& page, const std::string& name, const std::string& has) {
  return sample(page, name, {has});
}

void publish(int n, const std::string& endpoint = "bus") {
  ClientOptions o;
  o.endpoint = endpoint;
  o.name = "metrics-traffic";
  auto c = Client::connect(o);
  ASSERT_TRUE(c) << c.error().message();
  const std::vector<std::byte> payload(100, std::byte{7});
  for (int i = 0; i < n; ++i) ASSERT_TRUE(c->send(kType, payload));
  // Closing waits for nothing; the server counts what it handled, so wait for that.
  test::wait_for([&] { return c->acknowledged() >= static_cast<std::uint64_t>(n); });
  ASSERT_EQ(c->acknowledged(), static_cast<std::uint64_t>(n));
}

// The real Prometheus server, scraping each job's target every second, in a private
// directory.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, const std::vector<std::pair<std::string, int>>& jobs)
      : port_(free_port()) {
    const std::string config = dir + "/prometheus.yml";
    std::ofstream yml(config);
    yml << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n";
    for (const auto& [job, target_port] : jobs) {
      yml << "  - job_name: " << job << "\n    static_configs:\n"
          << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    }
    yml.close();
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

// `ferry exporter --listen 127.0.0.1:0` with `args`, started for a test and stopped with it
// (SIGTERM; it dies with the test too), ready once it says where it listens.
class ExporterProcess {
 public:
  explicit ExporterProcess(const std::vector<std::string>& args) {
    std::vector<std::string> all = {FERRY_CLI_PATH, "exporter", "--listen", "127.0.0.1:0"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    argv.reserve(all.size() + 1);
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) std::_Exit(99);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
    ::close(out[1]);
    // "serving metrics at http://127.0.0.1:PORT/metrics (module ...)", or its error.
    const auto deadline = std::chrono::steady_clock::now() + test::kPatience;
    while (said_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{out[0], POLLIN, 0};
      if (::poll(&pfd, 1, 100) != 1) continue;
      std::array<char, 512> buf{};
      const ssize_t n = ::read(out[0], buf.data(), buf.size());
      if (n <= 0) break;
      said_.append(buf.data(), static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    // (No std::regex: GCC 12 warns inside <regex> under the sanitizers.)
    constexpr std::string_view kServing = "serving metrics at http://127.0.0.1:";
    if (const auto at = said_.find(kServing); at != std::string::npos) {
      const char* digits = said_.c_str() + at + kServing.size();
      const char* end = said_.c_str() + said_.size();
      int port = 0;
      const auto [next, ec] = std::from_chars(digits, end, port);
      if (ec == std::errc() && next != digits && next < end && *next == '/') port_ = port;
    }
  }
  ~ExporterProcess() { (void)stop(); }
  ExporterProcess(const ExporterProcess&) = delete;
  ExporterProcess& operator=(const ExporterProcess&) = delete;

  // Listening (on port()), or what it said instead.
  ::testing::AssertionResult ok() const {
    if (port_ > 0) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "ferry exporter did not listen: " << said_;
  }
  int port() const { return port_; }
  // SIGTERM, then its exit status.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    const int status = tools::wait_child(pid_);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string said_;
};

// An application's own server on `endpoint` (run in a ServerChild): it times its handlers,
// and publishes how many messages of kType it took and a gauge; also a second series of
// the counter's family, and one in a family of the exporter's own (which it leaves out).
int serve_app(const std::string& endpoint) {
  ServerOptions o;
  o.endpoint = endpoint;
  o.handler_histogram = true;
  auto server = Server::create(o);
  if (!server) return 1;
  auto orders = server->publish_metric("app_orders_total{kind=\"limit\"}");
  auto depth = server->publish_metric("app_queue_depth");
  auto market = server->publish_metric("app_orders_total{kind=\"market\"}");
  auto clash = server->publish_metric("ferry_messages_total{mine=\"1\"}");
  if (!orders || !depth || !market || !clash) return 2;
  (*market)->store(5, std::memory_order_relaxed);
  server->on(kType, [&](Request&) {
    (*orders)->fetch_add(1, std::memory_order_relaxed);
    (*depth)->store(7, std::memory_order_relaxed);
  });
  (void)server->run();
  return 0;
}

// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const std::size_t close = text.rfind(')');
  return close != std::string::npos && text.size() > close + 2 && text[close + 2] == 'Z';
}

// The parent of process `pid` (/proc/<pid>/stat), or -1.
pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return -1;
  std::istringstream rest(text.substr(text.rfind(')') + 1));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
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
  EXPECT_LT(log_time(stopped.front()) - stopping, 1s) << test::read_file(log);
}

TEST(Metrics, ARealPrometheusScrapesFerrydAndTheExporterAndSeesTheCountersMove) {
  test::ScopedSession session("scraped");
  const int port = free_port();
  test::FerrydProcess ferryd({"--metrics-listen", std::to_string(port)});  // loopback
  ASSERT_TRUE(ferryd.ok());
  ASSERT_FALSE(wait_for_page(port, "/metrics").empty());
  // An application's server beside ferryd, exported by `ferry exporter` for the session.
  test::ServerChild app("app", [] { return serve_app("app"); });
  ASSERT_TRUE(app.ready());
  ExporterProcess exporter({});
  ASSERT_TRUE(exporter.ok());
  PrometheusServer prometheus(session.dir(), {{"ferryd", port}, {"exporter", exporter.port()}});
  const std::string query =
      R"(ferry_messages_total{job="ferryd",session="scraped",direction="in"})";
  const std::string app_query =
      R"(ferry_messages_total{job="exporter",endpoint="app",direction="in"})";

  publish(40, "app");
  double app_seen = -1;
  for (int i = 0; i < 600 && app_seen != 40; ++i) {  // Prometheus starts, then scrapes each second
    std::this_thread::sleep_for(100ms);
    app_seen = prometheus.query(app_query);
  }
  ASSERT_EQ(app_seen, 40) << "Prometheus at 127.0.0.1:" << prometheus.port()
                          << " never saw the application's 40 messages";
  EXPECT_EQ(
      prometheus.query("app_orders_total{job=\"exporter\",session=\"scraped\",kind=\"limit\"}"),
      40);
  EXPECT_EQ(prometheus.query("up{job=\"exporter\"}"), 1);
  // ferryd's endpoint, exported by ferry exporter too, with its bus's counters.
  EXPECT_EQ(prometheus.query("ferry_bus_published_total{job=\"exporter\",endpoint=\"bus\"}"), 0);

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
  EXPECT_EQ(prometheus.query("ferry_connections_lost_total{job=\"ferryd\",session=\"scraped\"}"),
            2);
  EXPECT_EQ(prometheus.query("ferry_bus_published_total{job=\"ferryd\"}"), 375);
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

TEST(Exporter, ExportsAnApplicationsOwnServerWithItsEndpointLabelAndWhatItPublishes) {
  test::ScopedSession session("appexp");
  test::ServerChild app("app", [] { return serve_app("app"); });
  ASSERT_TRUE(app.ready());
  ExporterProcess exporter({});
  ASSERT_TRUE(exporter.ok());
  publish(48, "app");
  const std::string page = http_get(exporter.port(), "/metrics");
  const std::string app_labels = R"(session="appexp",endpoint="app")";
  EXPECT_EQ(sample(page, "ferry_messages_total", {app_labels, "direction=\"in\""}), 48) << page;
  // ServerChild's look to see it up, then the test's client.
  EXPECT_EQ(sample(page, "ferry_connections_accepted_total", {app_labels}), 2) << page;
  // What it published, with its own labels after the endpoint's; a counter and a gauge.
  EXPECT_EQ(sample(page, "app_orders_total", {app_labels, "kind=\"limit\""}), 48) << page;
  EXPECT_EQ(sample(page, "app_queue_depth", {app_labels}), 7) << page;
  EXPECT_EQ(sample(page, "app_orders_total", {app_labels, "kind=\"market\""}), 5) << page;
  EXPECT_EQ(page.find("mine=\"1\""), std::string::npos) << "a published series repeats the "
                                                           "exporter's ferry_messages_total:\n"
                                                        << page;
  EXPECT_NE(page.find("# TYPE app_orders_total counter"), std::string::npos) << page;
  EXPECT_NE(page.find("# TYPE app_queue_depth gauge"), std::string::npos) << page;
  // Its handler histogram, from its stat segment: one call in 16 of the 48.
  EXPECT_EQ(sample(page, "ferry_handler_duration_seconds_count", {app_labels}), 3) << page;
  // No bus here: ferryd's counters are ferryd's.
  EXPECT_EQ(page.find("ferry_bus_"), std::string::npos) << page;

  const std::string file = session.dir() + "/metrics.txt";
  std::ofstream(file) << page;
  auto [lint, rc] = run("promtool check metrics < " + file + " 2>&1");
  EXPECT_EQ(rc, 0) << "promtool check metrics:\n" << lint;
  EXPECT_EQ(exporter.stop(), 0) << "SIGTERM is a clean stop";
}

TEST(Exporter, PicksUpAnEndpointThatStartsLaterAndDropsOneThatStops) {
  test::ScopedSession session("comego");
  ExporterProcess exporter({});  // before there is any endpoint, or a session directory
  ASSERT_TRUE(exporter.ok());
  const auto has = [&](const std::string& endpoint) {
    return http_get(exporter.port(), "/metrics").find("endpoint=\"" + endpoint + "\"") !=
           std::string::npos;
  };
  EXPECT_FALSE(has("stays"));
  test::ServerChild stays("stays", [] { return serve_app("stays"); });
  ASSERT_TRUE(stays.ready());
  EXPECT_TRUE(has("stays"));  // at the next scrape: read at each one
  {
    test::ServerChild late("late", [] { return serve_app("late"); });
    ASSERT_TRUE(late.ready());
    EXPECT_TRUE(has("late"));
    EXPECT_TRUE(has("stays"));
  }  // killed
  EXPECT_FALSE(has("late")) << http_get(exporter.port(), "/metrics");
  EXPECT_TRUE(has("stays"));
}

TEST(Exporter, ExportsEverySessionOrOneProcess) {
  test::ScopedSession session("first");
  test::ServerChild first("one", [] { return serve_app("one"); });
  ASSERT_TRUE(first.ready());
  // A server in another session of the same user (its own runtime directory's).
  const pid_t other = tools::fork_child([] {
    ServerOptions o;
    o.session = "second";
    o.endpoint = "two";
    auto server = Server::create(o);
    return server && server->run() ? 0 : 1;
  });
  ASSERT_TRUE(test::wait_for([] {
    auto s = read_session_stat("second");
    return s && s->endpoints.size() == 1;
  }));
  {
    ExporterProcess all({"--all-sessions"});
    ASSERT_TRUE(all.ok());
    const std::string page = http_get(all.port(), "/metrics");
    EXPECT_EQ(sample(page, "ferry_connections_max", {"session=\"first\",endpoint=\"one\""}), 4096)
        << page;
    EXPECT_EQ(sample(page, "ferry_connections_max", {"session=\"second\",endpoint=\"two\""}), 4096)
        << page;
  }
  {
    ExporterProcess one({"--pid", std::to_string(other)});
    ASSERT_TRUE(one.ok());
    const std::string page = http_get(one.port(), "/metrics");
    EXPECT_NE(page.find("endpoint=\"two\""), std::string::npos) << page;
    EXPECT_EQ(page.find("endpoint=\"one\""), std::string::npos) << page;
  }
  {
    ExporterProcess session_only({});  // FERRY_SESSION=first
    ASSERT_TRUE(session_only.ok());
    const std::string page = http_get(session_only.port(), "/metrics");
    EXPECT_NE(page.find("endpoint=\"one\""), std::string::npos) << page;
    EXPECT_EQ(page.find("session=\"second\""), std::string::npos) << page;
  }
  ::kill(other, SIGKILL);
  tools::wait_child(other);
}

// ferryd's exporter is its child: killed with it even by SIGKILL (no orphan serving a dead
// ferryd's port), started again when it dies alone, stopped when ferryd stops.
TEST(Metrics, FerrydsExporterDiesWithFerrydEvenWhenFerrydIsKilled) {
  test::ScopedSession session("orphan");
  const std::string log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(log, {"--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  const auto listening = test::log_events(log, "metrics_listening");
  ASSERT_EQ(listening.size(), 1u) << test::read_file(log);
  const pid_t exporter = listening.front().value("exporter_pid", 0);
  const int port = listening.front().value("port", 0);
  ASSERT_GT(exporter, 0);
  EXPECT_EQ(parent_of(exporter), ferryd.pid());
  ASSERT_FALSE(http_get(port, "/metrics").empty());

  EXPECT_EQ(ferryd.stop(SIGKILL), 128 + SIGKILL);
  EXPECT_TRUE(test::wait_for([&] { return ended(exporter); }))
      << "ferryd's exporter (pid " << exporter << ") outlived ferryd";
  EXPECT_TRUE(test::wait_for([&] { return http_get(port, "/metrics").empty(); }));
}

TEST(Metrics, FerrydStartsItsExporterAgainWhenItDiesAndStopsItWhenItStops) {
  test::ScopedSession session("restart");
  const std::string log = session.dir() + "/ferryd.log";
  test::FerrydProcess ferryd(test::with_log(log, {"--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(ferryd.ok()) << test::read_file(log);
  const auto first = test::log_events(log, "metrics_listening");
  ASSERT_EQ(first.size(), 1u) << test::read_file(log);
  const pid_t exporter = first.front().value("exporter_pid", 0);
  const int port = first.front().value("port", 0);
  ASSERT_GT(exporter, 0);
  ASSERT_EQ(::kill(exporter, SIGKILL), 0);

  ASSERT_TRUE(test::wait_for([&] {
    return test::log_events(log, "metrics_listening").size() == 2;
  })) << test::read_file(log);
  const auto exited = test::log_events(log, "exporter_exited");
  ASSERT_EQ(exited.size(), 1u) << test::read_file(log);
  EXPECT_NE(exited.front().value("msg", "").find("killed by signal 9"), std::string::npos)
      << exited.front().dump();
  const auto again = test::log_events(log, "metrics_listening").back();
  const pid_t second = again.value("exporter_pid", 0);
  EXPECT_NE(second, exporter);
  EXPECT_EQ(again.value("port", 0), port) << "the same port as before";
  publish(5);
  EXPECT_EQ(sample(http_get(port, "/metrics"), "ferry_messages_total", "direction=\"in\""), 5);

  EXPECT_EQ(ferryd.stop(), 0);
  EXPECT_TRUE(ended(second)) << "ferryd stopped without stopping its exporter";
  EXPECT_TRUE(http_get(port, "/metrics").empty());
}

#else

TEST(Metrics, ABuildWithoutMetricsRefusesThemWithAClearMessage) {
  test::ScopedSession session("nometrics");
  auto [out, rc] = run(std::string("timeout 20 ") + FERRYD_PATH + " --metrics-listen 9464 2>&1");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("built without metrics"), std::string::npos) << out;
  // ferry exporter too: a usage error, the build being what it is.
  auto [said, code] =
      run(std::string("timeout 20 ") + FERRY_CLI_PATH + " exporter --listen 127.0.0.1:0 2>&1");
  EXPECT_EQ(code, 2) << said;
  EXPECT_NE(said.find("built without metrics"), std::string::npos) << said;
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
