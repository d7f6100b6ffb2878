// SPDX-License-Identifier: Apache-2.0
// ferry-gateway's configuration (tools/gateway/config.cpp): upstream URLs and routes, the
// file with flags over it (a list flag replaces the file's list), and every check of the
// settings together, each with its one-line message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gateway/config.hpp"

namespace ferry::gateway {
namespace {

Result<GatewayConfig> parse(std::vector<std::string> args) {
  ::unsetenv("FERRY_GATEWAY_CONFIG");
  args.insert(args.begin(), "ferry-gateway");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_gateway_args(static_cast<int>(argv.size()), argv.data(), nullptr, nullptr);
}

std::string error_of(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  return r ? std::string("(accepted)") : r.error().message();
}

TEST(GatewayConfig, UpstreamUrls) {
  auto u = parse_upstream("b=wss://host.example:9443/ferry");
  ASSERT_TRUE(u) << u.error().message();
  EXPECT_EQ(u->name, "b");
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "host.example");
  EXPECT_EQ(u->port, "9443");
  EXPECT_EQ(u->target, "/ferry");
  EXPECT_FALSE(u->raw);
  auto plain = parse_upstream("feed=ws://[::1]/;raw=9");
  ASSERT_TRUE(plain) << plain.error().message();
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "::1");
  EXPECT_EQ(plain->port, "80");
  EXPECT_EQ(plain->target, "/");
  EXPECT_TRUE(plain->raw);
  EXPECT_EQ(plain->raw_type, 9);
  for (const char* bad : {"wss://x", "b=http://x/", "b=wss://:1/", "b=wss://x:99999/",
                          "b=wss://x/;raw=65300", "b=wss://x/;bogus=1"}) {
    EXPECT_FALSE(parse_upstream(bad)) << bad;
  }
}

TEST(GatewayConfig, Routes) {
  auto r = parse_route("request 8 b");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Route::Kind::request);
  EXPECT_EQ(r->type, 8);
  EXPECT_EQ(r->upstream, "b");
  for (const char* bad : {"send 8 b", "publish x b", "publish 8", "publish 65280 b"}) {
    EXPECT_FALSE(parse_route(bad)) << bad;
  }
}

TEST(GatewayConfig, FlagsOverTheFileAndListsReplaceIt) {
  char dir[] = "/tmp/gateway_config_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/gateway.toml";
  std::ofstream(path) << "node = \"from-file\"\n"
                         "upstream = [\"b=wss://b.example/\", \"c=wss://c.example/\"]\n"
                         "route = [\"publish 7 b\"]\n"
                         "accept = [17, 18]\n"
                         "pool_max = 4\n";
  auto c = parse({"--config", path, "--accept", "30", "--pool-max", "6"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->node, "from-file");
  EXPECT_EQ(c->upstreams.size(), 2u);
  EXPECT_EQ(c->accept, std::vector<std::uint16_t>{30});
  EXPECT_EQ(c->pool_max, 6u);
  EXPECT_EQ(error_of({"--config", path, "--bogus"}),
            "unknown option '--bogus' (see ferry-gateway --help)");
  std::ofstream(path) << "upstreams = []\n";
  EXPECT_NE(error_of({"--config", path}).find(":1: unknown key 'upstreams' (known: session,"),
            std::string::npos)
      << error_of({"--config", path});
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());  // NOLINT(cert-env33-c)
}

// packaging/ferry-gateway.toml, the example a user starts from, is a valid configuration.
TEST(GatewayConfig, TheExampleFileParses) {
  auto c = parse({"--config", std::string(FERRY_SOURCE_DIR) + "/packaging/ferry-gateway.toml"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->node, "host-a");
  EXPECT_EQ(c->routes.size(), 2u);
  EXPECT_EQ(c->accept, (std::vector<std::uint16_t>{17, 18}));
}

TEST(GatewayConfig, TheSettingsTogetherAreChecked) {
  EXPECT_EQ(error_of({"--listen", "0.0.0.0:9443", "--plain"}),
            "plain ws:// listens on loopback addresses only, not 0.0.0.0:9443: use TLS "
            "(tls_cert, tls_key) or a 127.0.0.1 address");
  EXPECT_EQ(error_of({"--listen", "127.0.0.1:9443"}),
            "listening on 127.0.0.1:9443 with TLS needs tls_cert and tls_key (or plain = true on "
            "loopback)");
  EXPECT_EQ(error_of({"--route", "publish 7 b"}),
            "route of type 7 names upstream 'b', which is not configured (upstream = "
            "[\"b=wss://host:port/\"])");
  EXPECT_EQ(error_of({"--upstream", "b=wss://x/", "--route", "publish 7 b", "--accept", "7"}),
            "type 7 is both routed to a peer and accepted from peers: it would come back and loop; "
            "through one gateway a type flows one way");
  EXPECT_EQ(error_of({"--upstream", "b=wss://x/", "--upstream", "b=wss://y/"}),
            "two upstreams are named 'b'");
  EXPECT_EQ(error_of({"--pool-min", "9", "--pool-max", "8"}), "pool_min 9 is above pool_max 8");
  EXPECT_EQ(error_of({"--listen", "example.com:1"}),
            "--listen: listen address 'example.com:1': the address must be a numeric IPv4 "
            "address or [IPv6] (use ADDRESS:PORT, e.g. 127.0.0.1:9443)");
  EXPECT_EQ(error_of({"--log-level", "loud"}),
            "--log-level: expected error, warn, info or debug, got 'loud'");
  auto ok = parse({"--listen", "127.0.0.1:0", "--plain", "--node", "n"});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_TRUE(is_loopback_listen(ok->listen));
}

}  // namespace
}  // namespace ferry::gateway
