// SPDX-License-Identifier: Apache-2.0
// ferryd's configuration: defaults, the file, flags over the file, and every error message.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "ferryd/config.hpp"

namespace ferry::ferryd {
namespace {

using ferry::Errc;

// Runs each test with a clean config environment: FERRY_CONFIG unset, XDG_CONFIG_HOME and
// HOME pointing into a fresh temporary directory. Restores the environment afterwards.
class FerrydConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"FERRY_CONFIG", "XDG_CONFIG_HOME", "HOME"}) {
      const char* value = std::getenv(name);
      saved_.emplace_back(name,
                          value != nullptr ? std::optional<std::string>(value) : std::nullopt);
    }
    char dir[] = "/tmp/ferryd_config_test.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    ::unsetenv("FERRY_CONFIG");
    ::setenv("XDG_CONFIG_HOME", (dir_ + "/xdg").c_str(), 1);
    ::setenv("HOME", (dir_ + "/home").c_str(), 1);
  }

  void TearDown() override {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    std::system(("rm -rf '" + dir_ + "'").c_str());  // NOLINT(cert-env33-c)
  }

  // Writes `text` to <tmp>/<name> (creating directories) and returns the path.
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::system(("mkdir -p \"$(dirname '" + path + "')\"").c_str());  // NOLINT(cert-env33-c)
    std::ofstream(path) << text;
    return path;
  }

  ferry::Result<FerrydConfig> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "ferryd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    output_.clear();
    exit_now_ = false;
    return parse_ferryd_args(static_cast<int>(args.size()), argv.data(), &output_, &exit_now_);
  }

  // The error message of a parse that must fail.
  std::string error_of(std::vector<std::string> args) {
    auto r = parse(std::move(args));
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.error().message();
  }

  std::string dir_;
  std::string output_;
  bool exit_now_ = false;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST_F(FerrydConfigTest, DefaultsWithoutFileOrFlags) {
  auto r = parse({});
  ASSERT_TRUE(r.ok()) << r.error().message();
  const ferry::ServerOptions defaults;
  EXPECT_EQ(r->server.endpoint, "bus");
  EXPECT_EQ(r->server.session, "");
  EXPECT_EQ(r->server.max_connections, defaults.max_connections);
  EXPECT_EQ(r->server.ring_capacity, defaults.ring_capacity);
  EXPECT_EQ(r->server.max_ring_capacity, defaults.max_ring_capacity);
  EXPECT_TRUE(r->server.crc);
  EXPECT_TRUE(r->server.allow_uids.empty());
  EXPECT_TRUE(r->server.allow_gids.empty());
  EXPECT_EQ(r->server.wait.strategy, defaults.wait.strategy);
  EXPECT_EQ(r->server.wait.spin_for, defaults.wait.spin_for);
  EXPECT_EQ(r->server.batch, defaults.batch);
  EXPECT_EQ(r->server.compress_threshold, defaults.compress_threshold);
  EXPECT_EQ(r->server.handshake_timeout, defaults.handshake_timeout);
  // The bus never lets a subscriber that stops reading hold others up for long.
  EXPECT_EQ(r->bus.slow_subscriber, ferryd::SlowSubscriber::drop);
  EXPECT_EQ(r->bus.slow_subscriber_timeout, std::chrono::milliseconds(1000));
  EXPECT_EQ(r->bus.max_outstanding_requests, 4096u);
  EXPECT_EQ(r->bus.request_timeout, std::chrono::milliseconds(30000));
  EXPECT_EQ(r->log_level, "info");
  EXPECT_FALSE(exit_now_);
  if (::access("/etc/ferry/ferryd.toml", F_OK) != 0) {
    EXPECT_EQ(r->config_path, "");
  }
}

TEST_F(FerrydConfigTest, EveryKeyFromTheFile) {
  const std::string path = write("ferryd.toml",
                                 "# a comment\n"
                                 "endpoint = \"mybus\"\n"
                                 "session = \"s1\"\n"
                                 "max_connections = 100\n"
                                 "ring_capacity = \"64KiB\"\n"
                                 "max_ring_capacity = 1048576\n"
                                 "crc = false\n"
                                 "allow_users = [\"root\", 1234]\n"
                                 "allow_groups = [0, \"4321\"]\n"
                                 "wait = \"spin\"\n"
                                 "spin_us = 7\n"
                                 "yield_every = 99\n"
                                 "batch = 16\n"
                                 "compress_threshold = \"4KiB\"\n"
                                 "handshake_timeout_ms = 300\n"
                                 "slow_subscriber = \"disconnect\"\n"
                                 "slow_subscriber_timeout_ms = 0\n"
                                 "max_outstanding_requests = 10\n"
                                 "request_timeout_ms = 250\n"
                                 "log_level = \"debug\"\n"
                                 "metrics_listen = \"9464\"\n"
                                 "metrics_histogram = true\n");
  auto r = parse({"--config", path});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->config_path, path);
  EXPECT_EQ(r->server.endpoint, "mybus");
  EXPECT_EQ(r->server.session, "s1");
  EXPECT_EQ(r->server.max_connections, 100u);
  EXPECT_EQ(r->server.ring_capacity, 65536u);
  EXPECT_EQ(r->server.max_ring_capacity, 1048576u);
  EXPECT_FALSE(r->server.crc);
  EXPECT_EQ(r->server.allow_uids, (std::vector<uid_t>{0, 1234}));
  EXPECT_EQ(r->server.allow_gids, (std::vector<gid_t>{0, 4321}));
  EXPECT_EQ(r->server.wait.strategy, ferry::WaitStrategy::spin);
  EXPECT_EQ(r->server.wait.spin_for, std::chrono::microseconds(7));
  EXPECT_EQ(r->server.wait.yield_every, 99u);
  EXPECT_EQ(r->server.batch, 16u);
  EXPECT_EQ(r->server.compress_threshold, 4096u);
  EXPECT_EQ(r->server.handshake_timeout, std::chrono::milliseconds(300));
  EXPECT_EQ(r->bus.slow_subscriber, ferryd::SlowSubscriber::disconnect);
  EXPECT_EQ(r->bus.slow_subscriber_timeout, std::chrono::milliseconds(0));
  EXPECT_EQ(r->bus.max_outstanding_requests, 10u);
  EXPECT_EQ(r->bus.request_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(r->log_level, "debug");
  EXPECT_EQ(r->metrics_listen, "127.0.0.1:9464");  // a port alone is loopback
  EXPECT_TRUE(r->server.handler_histogram);
}

TEST_F(FerrydConfigTest, MetricsAddressesAndTheSwitch) {
  const std::pair<const char*, const char*> good[] = {
      {"9464", "127.0.0.1:9464"},        {":9464", "127.0.0.1:9464"},
      {"0.0.0.0:80", "0.0.0.0:80"},      {"127.0.0.1:0", "127.0.0.1:0"},
      {"10.1.2.3:00080", "10.1.2.3:80"},
  };
  for (const auto& [text, want] : good) {
    auto r = parse({"--metrics-listen", text});
    ASSERT_TRUE(r.ok()) << text << ": " << r.error().message();
    EXPECT_EQ(r->metrics_listen, want) << text;
  }
  for (const char* text : {"localhost:9464", "9464x", "-1", "65536", "1.2.3:80", "[::1]:80", ""}) {
    auto r = parse({"--metrics-listen", text});
    if (std::string(text).empty()) {  // "" is off, as in the file
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(r->metrics_listen, "");
      continue;
    }
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.error().message().find("e.g. 127.0.0.1:9464"), std::string::npos)
        << r.error().message();
  }
  const std::string path = write("m.toml", "metrics_listen = \"9000\"\nmetrics_histogram = true\n");
  auto off = parse({"--config", path, "--no-metrics"});
  ASSERT_TRUE(off.ok()) << off.error().message();
  EXPECT_EQ(off->metrics_listen, "");
  EXPECT_FALSE(off->server.handler_histogram);
  auto defaults = parse({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->metrics_listen, "") << "metrics are off unless asked for";
}

// packaging/ferryd.toml documents every key at its default value.
TEST_F(FerrydConfigTest, ExampleFileHoldsTheDefaults) {
  auto r = parse({"--config", std::string(FERRY_SOURCE_DIR) + "/packaging/ferryd.toml"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  const ferry::ServerOptions defaults;
  EXPECT_EQ(r->server.endpoint, defaults.endpoint);
  EXPECT_EQ(r->server.session, defaults.session);
  EXPECT_EQ(r->server.max_connections, defaults.max_connections);
  EXPECT_EQ(r->server.ring_capacity, defaults.ring_capacity);
  EXPECT_EQ(r->server.max_ring_capacity, defaults.max_ring_capacity);
  EXPECT_EQ(r->server.crc, defaults.crc);
  EXPECT_EQ(r->server.allow_uids, defaults.allow_uids);
  EXPECT_EQ(r->server.allow_gids, defaults.allow_gids);
  EXPECT_EQ(r->server.wait.strategy, defaults.wait.strategy);
  EXPECT_EQ(r->server.wait.spin_for, defaults.wait.spin_for);
  EXPECT_EQ(r->server.wait.yield_every, defaults.wait.yield_every);
  EXPECT_EQ(r->server.batch, defaults.batch);
  EXPECT_EQ(r->server.compress_threshold, defaults.compress_threshold);
  EXPECT_EQ(r->server.handshake_timeout, defaults.handshake_timeout);
  const ferryd::BusOptions bus;
  EXPECT_EQ(r->bus.slow_subscriber, bus.slow_subscriber);
  EXPECT_EQ(r->bus.slow_subscriber_timeout, bus.slow_subscriber_timeout);
  EXPECT_EQ(r->bus.max_outstanding_requests, bus.max_outstanding_requests);
  EXPECT_EQ(r->bus.request_timeout, bus.request_timeout);
  EXPECT_EQ(r->log_level, "info");
  EXPECT_EQ(r->metrics_listen, "");
  EXPECT_EQ(r->server.handler_histogram, defaults.handler_histogram);
}

TEST_F(FerrydConfigTest, FlagsOverrideTheFile) {
  const std::string path = write("f.toml",
                                 "endpoint = \"fromfile\"\n"
                                 "batch = 8\n"
                                 "crc = false\n"
                                 "allow_users = [1, 2]\n"
                                 "wait = \"block\"\n"
                                 "slow_subscriber = \"disconnect\"\n"
                                 "request_timeout_ms = 5\n");
  auto r = parse({"--endpoint",
                  "fromflag",
                  "--config=" + path,
                  "--batch=32",
                  "--crc",
                  "--allow-user",
                  "5",
                  "--allow-user=root",
                  "--ring-capacity",
                  "2MiB",
                  "--max-ring-capacity=4M",
                  "--log-level",
                  "warn",
                  "--session=x",
                  "--max-connections",
                  "7",
                  "--spin-us",
                  "0",
                  "--compress-threshold",
                  "100",
                  "--handshake-timeout-ms",
                  "50",
                  "--allow-group",
                  "0",
                  "--yield-every",
                  "3",
                  "--slow-subscriber=drop",
                  "--slow-subscriber-timeout-ms",
                  "250",
                  "--max-outstanding-requests",
                  "1048576",
                  "--request-timeout-ms=86400000"});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->server.endpoint, "fromflag");
  EXPECT_EQ(r->server.batch, 32u);
  EXPECT_TRUE(r->server.crc);
  EXPECT_EQ(r->server.allow_uids, (std::vector<uid_t>{5, 0}));  // the flags replace the file's
  EXPECT_EQ(r->server.allow_gids, (std::vector<gid_t>{0}));
  EXPECT_EQ(r->server.wait.strategy, ferry::WaitStrategy::block);  // from the file
  EXPECT_EQ(r->server.ring_capacity, 2u << 20);
  EXPECT_EQ(r->server.max_ring_capacity, 4u << 20);
  EXPECT_EQ(r->log_level, "warn");
  EXPECT_EQ(r->server.session, "x");
  EXPECT_EQ(r->server.max_connections, 7u);
  EXPECT_EQ(r->server.wait.spin_for, std::chrono::microseconds(0));
  EXPECT_EQ(r->server.compress_threshold, 100u);
  EXPECT_EQ(r->server.handshake_timeout, std::chrono::milliseconds(50));
  EXPECT_EQ(r->server.wait.yield_every, 3u);
  EXPECT_EQ(r->bus.slow_subscriber, ferryd::SlowSubscriber::drop);
  EXPECT_EQ(r->bus.slow_subscriber_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(r->bus.max_outstanding_requests, 1048576u);
  EXPECT_EQ(r->bus.request_timeout, std::chrono::milliseconds(86400000));

  auto off = parse({"--no-crc", "--wait=hybrid"});
  ASSERT_TRUE(off.ok()) << off.error().message();
  EXPECT_FALSE(off->server.crc);
  EXPECT_EQ(off->server.wait.strategy, ferry::WaitStrategy::hybrid);
}

TEST_F(FerrydConfigTest, FileSearchOrder) {
  // XDG_CONFIG_HOME's file when it exists.
  const std::string xdg = write("xdg/ferry/ferryd.toml", "endpoint = \"xdg\"\n");
  auto r = parse({});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->config_path, xdg);
  EXPECT_EQ(r->server.endpoint, "xdg");

  // ~/.config when XDG_CONFIG_HOME is unset.
  ::unsetenv("XDG_CONFIG_HOME");
  const std::string home = write("home/.config/ferry/ferryd.toml", "endpoint = \"home\"\n");
  r = parse({});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->config_path, home);
  EXPECT_EQ(r->server.endpoint, "home");

  // $FERRY_CONFIG before both, and it must exist.
  const std::string env = write("env.toml", "endpoint = \"env\"\n");
  ::setenv("FERRY_CONFIG", env.c_str(), 1);
  r = parse({});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->server.endpoint, "env");
  ::setenv("FERRY_CONFIG", (dir_ + "/nope.toml").c_str(), 1);
  r = parse({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "cannot read config file " + dir_ + "/nope.toml: No such file or directory");

  // --config before everything.
  r = parse({"--config", xdg});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->server.endpoint, "xdg");
}

TEST_F(FerrydConfigTest, MissingConfigFileIsAnErrorNamingIt) {
  auto r = parse({"--config", dir_ + "/missing.toml"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::not_found);
  EXPECT_EQ(r.error().message(),
            "cannot read config file " + dir_ + "/missing.toml: No such file or directory");
}

TEST_F(FerrydConfigTest, UnknownKeyNamesItsLineAndTheKnownKeys) {
  const std::string path = write("ferryd.toml",
                                 "endpoint = \"bus\"\n"
                                 "\n"
                                 "foo = 1\n");
  EXPECT_EQ(error_of({"--config", path}),
            path +
                ":3: unknown key 'foo' (known: endpoint, socket_path, session, max_connections, "
                "ring_capacity, max_ring_capacity, crc, allow_users, allow_groups, wait, "
                "spin_us, yield_every, batch, compress_threshold, handshake_timeout_ms, "
                "slow_subscriber, slow_subscriber_timeout_ms, max_outstanding_requests, "
                "request_timeout_ms, log_level, log_format, metrics_listen, metrics_histogram)");
  // A table is a key like any other.
  const std::string table = write("t.toml", "batch = 2\n[server]\nendpoint = \"x\"\n");
  EXPECT_NE(error_of({"--config", table}).find(table + ":2: unknown key 'server'"),
            std::string::npos);
}

TEST_F(FerrydConfigTest, WrongTypeNamesLineAndExpectedType) {
  const std::string path = write("ferryd.toml", "batch = 4\nmax_connections = \"many\"\n");
  EXPECT_EQ(error_of({"--config", path}),
            path + ":2: max_connections: expected an integer 1..65536, got a string");
  const std::string crc = write("crc.toml", "crc = \"yes\"\n");
  EXPECT_EQ(error_of({"--config", crc}),
            crc + ":1: crc: expected a boolean (true or false), got a string");
  const std::string ring = write("ring.toml", "ring_capacity = 1.5\n");
  EXPECT_EQ(error_of({"--config", ring}),
            ring +
                ":1: ring_capacity: expected a byte count (an integer or a string like "
                "\"64KiB\"), got a floating-point number");
  const std::string users = write("users.toml", "allow_users = \"root\"\n");
  EXPECT_EQ(error_of({"--config", users}),
            users + ":1: allow_users: expected an array of user names or ids, got a string");
  const std::string endpoint = write("e.toml", "endpoint = 5\n");
  EXPECT_EQ(error_of({"--config", endpoint}),
            endpoint + ":1: endpoint: expected a string, got an integer");
}

TEST_F(FerrydConfigTest, SyntaxErrorNamesLineAndColumn) {
  const std::string path = write("ferryd.toml", "batch = 4\nendpoint = \"unterminated\n");
  const std::string message = error_of({"--config", path});
  EXPECT_EQ(message.rfind(path + ":2:", 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST_F(FerrydConfigTest, BadValues) {
  const std::string size = write("size.toml", "ring_capacity = \"1XB\"\n");
  EXPECT_EQ(error_of({"--config", size}),
            size + ":1: ring_capacity: bad size '1XB': unknown unit 'XB' (use B, KiB, MiB or GiB)");
  EXPECT_EQ(error_of({"--ring-capacity", "3000"}),
            "--ring-capacity: expected a power of two from 4KiB to 1GiB, got 3000");
  EXPECT_EQ(
      error_of({"--max-ring-capacity", "2GiB"}),
      "--max-ring-capacity: expected a power of two from 4KiB to 1GiB, got 2147483648 (2GiB)");
  EXPECT_EQ(error_of({"--ring-capacity", "2KiB"}),
            "--ring-capacity: expected a power of two from 4KiB to 1GiB, got 2048 (2KiB)");
  EXPECT_EQ(error_of({"--wait", "sleepy"}), "--wait: expected spin, block or hybrid, got 'sleepy'");
  const std::string wait = write("wait.toml", "wait = \"nap\"\n");
  EXPECT_EQ(error_of({"--config", wait}),
            wait + ":1: wait: expected spin, block or hybrid, got 'nap'");
  EXPECT_EQ(error_of({"--max-connections", "0"}),
            "--max-connections: expected an integer 1..65536, got 0");
  EXPECT_EQ(error_of({"--max-connections", "65537"}),
            "--max-connections: expected an integer 1..65536, got 65537");
  EXPECT_EQ(error_of({"--max-connections", "12x"}),
            "--max-connections: expected an integer 1..65536, got '12x'");
  EXPECT_EQ(error_of({"--batch", "0"}), "--batch: expected an integer 1..4294967295, got 0");
  const std::string negative = write("neg.toml", "batch = -3\n");
  EXPECT_EQ(error_of({"--config", negative}),
            negative + ":1: batch: expected an integer 1..4294967295, got -3");
  EXPECT_EQ(error_of({"--log-level", "trace"}),
            "--log-level: expected error, warn, info or debug, got 'trace'");
  EXPECT_EQ(error_of({"--endpoint", "a/b"}),
            "--endpoint: 'a/b' is not a valid endpoint name: use 1-64 of A-Z a-z 0-9 _ -");
  EXPECT_EQ(error_of({"--slow-subscriber", "wait"}),
            "--slow-subscriber: expected drop or disconnect, got 'wait'");
  const std::string slow = write("slow.toml", "slow_subscriber = true\n");
  EXPECT_EQ(error_of({"--config", slow}),
            slow + ":1: slow_subscriber: expected a string, got a boolean");
  EXPECT_EQ(error_of({"--slow-subscriber-timeout-ms", "3600001"}),
            "--slow-subscriber-timeout-ms: expected an integer 0..3600000, got 3600001");
  EXPECT_EQ(error_of({"--max-outstanding-requests", "0"}),
            "--max-outstanding-requests: expected an integer 1..1048576, got 0");
  EXPECT_EQ(error_of({"--max-outstanding-requests", "1048577"}),
            "--max-outstanding-requests: expected an integer 1..1048576, got 1048577");
  const std::string timeout = write("timeout.toml", "\nrequest_timeout_ms = 0\n");
  EXPECT_EQ(error_of({"--config", timeout}),
            timeout + ":2: request_timeout_ms: expected an integer 1..86400000, got 0");
  EXPECT_EQ(error_of({"--ring-capacity", "128MiB"}),
            "ring_capacity 128MiB is larger than max_ring_capacity 64MiB: raise "
            "max_ring_capacity or lower ring_capacity");
}

TEST_F(FerrydConfigTest, UnknownUserAndGroup) {
  EXPECT_EQ(error_of({"--allow-user", "no-such-user-ferry"}),
            "--allow-user: unknown user 'no-such-user-ferry' (not in the user database; give a "
            "name or a number)");
  const std::string path = write("g.toml", "\nallow_groups = [\"no-such-group-ferry\"]\n");
  EXPECT_EQ(error_of({"--config", path}),
            path +
                ":2: allow_groups: unknown group 'no-such-group-ferry' (not in the group "
                "database; give a name or a number)");
  EXPECT_EQ(error_of({"--allow-user", "4294967295"}),
            "--allow-user: user id '4294967295' is out of range");
  const std::string negative = write("n.toml", "allow_users = [-1]\n");
  EXPECT_EQ(error_of({"--config", negative}),
            negative +
                ":1: allow_users: expected an array of user names or ids, found an element "
                "that is negative");
}

TEST_F(FerrydConfigTest, FlagErrors) {
  EXPECT_EQ(error_of({"--bogus"}), "unknown option '--bogus' (see ferryd --help)");
  EXPECT_EQ(error_of({"--bogus=1"}), "unknown option '--bogus' (see ferryd --help)");
  EXPECT_EQ(error_of({"stray"}), "unexpected argument 'stray' (see ferryd --help)");
  EXPECT_EQ(error_of({"--endpoint"}), "--endpoint needs a value (see ferryd --help)");
  EXPECT_EQ(error_of({"--no-crc=1"}), "--no-crc takes no value (see ferryd --help)");
}

TEST_F(FerrydConfigTest, HelpAndVersion) {
  auto r = parse({"--bad-value-ignored-after-help", "--help"});
  EXPECT_FALSE(r.ok());  // the unknown flag comes first
  r = parse({"--help"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(exit_now_);
  EXPECT_NE(output_.find("usage: ferryd"), std::string::npos);
  for (const char* flag : {"--config",
                           "--endpoint",
                           "--session",
                           "--max-connections",
                           "--ring-capacity",
                           "--max-ring-capacity",
                           "--no-crc",
                           "--allow-user",
                           "--allow-group",
                           "--wait",
                           "--spin-us",
                           "--batch",
                           "--compress-threshold",
                           "--handshake-timeout-ms",
                           "--slow-subscriber",
                           "--slow-subscriber-timeout-ms",
                           "--max-outstanding-requests",
                           "--request-timeout-ms",
                           "--log-level",
                           "--version"}) {
    EXPECT_NE(output_.find(flag), std::string::npos) << flag;
  }
  r = parse({"--version"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(exit_now_);
  EXPECT_EQ(output_.rfind("ferryd ", 0), 0u);
}

TEST(ParseSize, AcceptsBytesAndBinarySuffixes) {
  EXPECT_EQ(parse_size("4096").value(), 4096u);
  EXPECT_EQ(parse_size("0").value(), 0u);
  EXPECT_EQ(parse_size("12B").value(), 12u);
  EXPECT_EQ(parse_size("64KiB").value(), 65536u);
  EXPECT_EQ(parse_size("64K").value(), 65536u);
  EXPECT_EQ(parse_size("1MiB").value(), 1u << 20);
  EXPECT_EQ(parse_size("1 MiB").value(), 1u << 20);
  EXPECT_EQ(parse_size("3M").value(), 3u << 20);
  EXPECT_EQ(parse_size("1GiB").value(), 1u << 30);
  EXPECT_EQ(parse_size("2G").value(), 2ull << 30);
}

TEST(ParseSize, RejectsEverythingElse) {
  EXPECT_EQ(parse_size("").error().message(),
            "bad size '': expected a number of bytes, optionally with B, KiB, MiB or GiB");
  EXPECT_EQ(parse_size("MiB").error().message(),
            "bad size 'MiB': expected a number of bytes, optionally with B, KiB, MiB or GiB");
  EXPECT_EQ(parse_size("-1").code(), Errc::invalid_argument);
  EXPECT_EQ(parse_size("1.5MiB").error().message(),
            "bad size '1.5MiB': unknown unit '.5MiB' (use B, KiB, MiB or GiB)");
  EXPECT_EQ(parse_size("1MB").error().message(),
            "bad size '1MB': unknown unit 'MB' (use B, KiB, MiB or GiB)");
  EXPECT_EQ(parse_size("1TiB").code(), Errc::invalid_argument);
  EXPECT_EQ(parse_size("99999999999999999999").error().message(),
            "bad size '99999999999999999999': too large");
  EXPECT_EQ(parse_size("9999999999G").error().message(), "bad size '9999999999G': too large");
}

}  // namespace
}  // namespace ferry::ferryd
