// SPDX-License-Identifier: Apache-2.0
// ferry-bridge's configuration (tools/bridge/config.cpp): routes and their defaults, the
// file with flags over it (a list flag replaces the file's list), the namespace whichever
// order it comes in, and every check of the settings together, each with its one-line
// message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bridge/config.hpp"

namespace ferry::bridge {
namespace {

Result<BridgeConfig> parse(std::vector<std::string> args) {
  ::unsetenv("FERRY_BRIDGE_CONFIG");
  args.insert(args.begin(), "ferry-bridge");
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (auto& a : args) argv.push_back(a.data());
  return parse_bridge_args(static_cast<int>(argv.size()), argv.data(), nullptr, nullptr);
}

std::string error_of(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  return r ? std::string("(accepted)") : r.error().message();
}

std::string route_error(std::string_view text) {
  auto r = parse_route(text, "ns");
  return r ? std::string("(accepted)") : r.error().message();
}

// `haystack` has `needle` in it, or the test fails showing both.
::testing::AssertionResult has(const std::string& haystack, std::string_view needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "'" << haystack << "' does not contain '" << needle << "'";
}

// A temporary directory, removed with what is in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/bridge_config_test.XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // Writes `text` to the file `name` in the directory; its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::string path = path_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

 private:
  std::string path_;
};

// packaging/ferry-bridge.toml, the example a user starts from, is a valid configuration.
TEST(BridgeConfig, TheExampleFileParses) {
  auto c = parse({"--config", std::string(FERRY_SOURCE_DIR) + "/packaging/ferry-bridge.toml"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->ns, "prod");
  EXPECT_EQ(c->servers.size(), 3u);
  ASSERT_EQ(c->routes.size(), 4u);
  EXPECT_EQ(c->routes[1].subject, "ferry.prod.9");
  EXPECT_EQ(c->routes[1].delivery, Delivery::jetstream);
  EXPECT_EQ(c->stream, "FERRY_PROD");
}

TEST(BridgeConfig, Defaults) {
  auto c = parse({"--route", "out 7"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->session, "");
  EXPECT_EQ(c->endpoint, "bus");
  std::array<char, 256> host{};
  ASSERT_EQ(::gethostname(host.data(), host.size() - 1), 0);
  EXPECT_EQ(c->host, host.data());
  EXPECT_EQ(c->ns, "default");
  EXPECT_EQ(c->servers, std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(c->user, "");
  EXPECT_EQ(c->password, "");
  EXPECT_EQ(c->token, "");
  EXPECT_EQ(c->creds, "");
  EXPECT_EQ(c->nkey_seed, "");
  EXPECT_EQ(c->tls_ca, "");
  EXPECT_EQ(c->tls_cert, "");
  EXPECT_EQ(c->tls_key, "");
  EXPECT_EQ(c->connect_timeout.count(), 2000);
  EXPECT_EQ(c->reconnect_wait.count(), 250);
  EXPECT_EQ(c->reconnect_jitter.count(), 100);
  EXPECT_EQ(c->reconnect_buffer_bytes, 8u << 20);
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].kind, Route::Kind::out);
  EXPECT_EQ(c->routes[0].type, 7);
  EXPECT_EQ(c->routes[0].subject, "ferry.default.7");
  EXPECT_EQ(c->routes[0].delivery, Delivery::core);
  EXPECT_EQ(c->routes[0].when_down, WhenDown::backpressure);
  EXPECT_EQ(c->routes[0].queue, "");
  EXPECT_EQ(c->request_timeout.count(), 5000);
  EXPECT_EQ(c->responder_ttl.count(), 3000);
  EXPECT_EQ(c->stream, "FERRY_DEFAULT");
  EXPECT_EQ(c->stream_replicas, 1u);
  EXPECT_EQ(c->stream_storage, "file");
  EXPECT_EQ(c->ack_wait.count(), 5000);
  EXPECT_EQ(c->max_deliver, 5u);
  EXPECT_EQ(c->dedupe_window, 100'000u);
  EXPECT_EQ(c->duplicate_window.count(), 120'000);
  EXPECT_EQ(c->state_dir, "");
  EXPECT_EQ(c->metrics_listen, "");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_EQ(c->config_path, "");
}

TEST(BridgeConfig, EveryKeyFromTheFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string ca = dir.write("ca.pem", "ca");
  const std::string cert = dir.write("cert.pem", "cert");
  const std::string key = dir.write("key.pem", "key");
  const std::string creds = dir.write("bridge.creds", "creds");
  const std::string path = dir.write(
      "bridge.toml",
      "session = \"s1\"\n"
      "endpoint = \"bus2\"\n"
      "host = \"host-a\"\n"
      "namespace = \"prod-eu_1\"\n"
      "servers = [\"nats://n1.example:4222\", \"tls://n2.example\", \"nats://[::1]:4223\"]\n"
      "user = \"bridge\"\n"
      "password = \"secret\"\n"
      "creds = \"" +
          creds +
          "\"\n"
          "tls_ca = \"" +
          ca +
          "\"\n"
          "tls_cert = \"" +
          cert +
          "\"\n"
          "tls_key = \"" +
          key +
          "\"\n"
          "connect_timeout_ms = 1500\n"
          "reconnect_wait_ms = 300\n"
          "reconnect_jitter_ms = 0\n"
          "reconnect_buffer_bytes = \"16MiB\"\n"
          "route = [\"out 7 delivery=jetstream\", \"serve 8\"]\n"
          "request_timeout_ms = 2500\n"
          "responder_ttl_ms = 4000\n"
          "stream = \"ORDERS\"\n"
          "stream_replicas = 3\n"
          "stream_storage = \"memory\"\n"
          "ack_wait_ms = 7000\n"
          "max_deliver = 9\n"
          "pending_limit = 100\n"
          "dedupe_window = 0\n"
          "duplicate_window_ms = 60000\n"
          "state_dir = \"/var/lib/ferry-bridge\"\n"
          "metrics_listen = \"127.0.0.1:9470\"\n"
          "log_level = \"debug\"\n"
          "log_format = \"text\"\n");
  auto c = parse({"--config", path});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->session, "s1");
  EXPECT_EQ(c->endpoint, "bus2");
  EXPECT_EQ(c->host, "host-a");
  EXPECT_EQ(c->ns, "prod-eu_1");
  EXPECT_EQ(c->servers, (std::vector<std::string>{"nats://n1.example:4222", "tls://n2.example",
                                                  "nats://[::1]:4223"}));
  EXPECT_EQ(c->user, "bridge");
  EXPECT_EQ(c->password, "secret");
  EXPECT_EQ(c->creds, creds);
  EXPECT_EQ(c->tls_ca, ca);
  EXPECT_EQ(c->tls_cert, cert);
  EXPECT_EQ(c->tls_key, key);
  EXPECT_EQ(c->connect_timeout.count(), 1500);
  EXPECT_EQ(c->reconnect_wait.count(), 300);
  EXPECT_EQ(c->reconnect_jitter.count(), 0);
  EXPECT_EQ(c->reconnect_buffer_bytes, 16u << 20);
  ASSERT_EQ(c->routes.size(), 2u);
  EXPECT_EQ(c->routes[0].subject, "ferry.prod-eu_1.7");
  EXPECT_EQ(c->routes[0].delivery, Delivery::jetstream);
  EXPECT_EQ(c->routes[1].kind, Route::Kind::serve);
  EXPECT_EQ(c->routes[1].subject, "ferry.prod-eu_1.req.8");
  EXPECT_EQ(c->routes[1].queue, "ferry.prod-eu_1.8");
  EXPECT_EQ(c->request_timeout.count(), 2500);
  EXPECT_EQ(c->responder_ttl.count(), 4000);
  EXPECT_EQ(c->stream, "ORDERS");
  EXPECT_EQ(c->stream_replicas, 3u);
  EXPECT_EQ(c->stream_storage, "memory");
  EXPECT_EQ(c->ack_wait.count(), 7000);
  EXPECT_EQ(c->max_deliver, 9u);
  EXPECT_EQ(c->pending_limit, 100u);
  EXPECT_EQ(c->dedupe_window, 0u);
  EXPECT_EQ(c->duplicate_window.count(), 60'000);
  EXPECT_EQ(c->state_dir, "/var/lib/ferry-bridge");
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9470");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, "text");
  EXPECT_EQ(c->config_path, path);

  // The keys that exclude those above: token (not with user), nkey_seed (not with creds);
  // a buffer of 0 (none) and a byte count as an integer.
  const std::string seed = dir.write("bridge.nk", "SU...");
  const std::string other = dir.write("other.toml",
                                      "token = \"t0k\"\n"
                                      "nkey = \"UABC\"\n"
                                      "nkey_seed = \"" +
                                          seed +
                                          "\"\n"
                                          "reconnect_buffer_bytes = 0\n"
                                          "route = [\"in 9\"]\n");
  auto o = parse({"--config", other});
  ASSERT_TRUE(o) << o.error().message();
  EXPECT_EQ(o->token, "t0k");
  EXPECT_EQ(o->nkey, "UABC");
  EXPECT_EQ(o->nkey_seed, seed);
  EXPECT_EQ(o->reconnect_buffer_bytes, 0u);
  auto n = parse({"--route", "out 1", "--reconnect-buffer-bytes", "65536"});
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->reconnect_buffer_bytes, 65536u);
}

TEST(BridgeConfig, FlagsOverTheFileAndListsReplaceIt) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.write("bridge.toml",
                                     "host = \"from-file\"\n"
                                     "servers = [\"nats://a:4222\", \"nats://b:4222\"]\n"
                                     "route = [\"out 7\", \"in 8\"]\n"
                                     "max_deliver = 4\n"
                                     "log_level = \"warn\"\n");
  auto file = parse({"--config", path});
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_EQ(file->servers, (std::vector<std::string>{"nats://a:4222", "nats://b:4222"}));
  EXPECT_EQ(file->routes.size(), 2u);

  auto c = parse({"--config", path, "--server", "tls://c:4443", "--server", "nats://d", "--route",
                  "both 9", "--max-deliver", "6", "--host", "from-flag"});
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->host, "from-flag");
  EXPECT_EQ(c->servers, (std::vector<std::string>{"tls://c:4443", "nats://d"}));
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].kind, Route::Kind::both);
  EXPECT_EQ(c->max_deliver, 6u);
  EXPECT_EQ(c->log_level, "warn");  // not given as a flag: the file's

  // The flags replace the default server too; the file's list replaces it, not added to it.
  auto flags = parse({"--route", "out 7", "--server", "nats://x:1"});
  ASSERT_TRUE(flags) << flags.error().message();
  EXPECT_EQ(flags->servers, std::vector<std::string>{"nats://x:1"});

  EXPECT_EQ(error_of({"--config", path, "--bogus"}),
            "unknown option '--bogus' (see ferry-bridge --help)");
  const std::string unknown = dir.write("unknown.toml", "server = [\"nats://a\"]\n");
  EXPECT_TRUE(has(error_of({"--config", unknown}),
                  "unknown.toml:1: unknown key 'server' (known: session, endpoint, host, "
                  "namespace, servers,"));
}

TEST(BridgeConfig, TheFileFromTheEnvironment) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.write("bridge.toml", "route = [\"out 3\"]\nhost = \"env\"\n");
  ::setenv("FERRY_BRIDGE_CONFIG", path.c_str(), 1);
  std::vector<std::string> args{"ferry-bridge"};
  std::vector<char*> argv{args[0].data()};
  auto c = parse_bridge_args(static_cast<int>(argv.size()), argv.data(), nullptr, nullptr);
  ::unsetenv("FERRY_BRIDGE_CONFIG");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->config_path, path);
  EXPECT_EQ(c->host, "env");
  ASSERT_EQ(c->routes.size(), 1u);
  EXPECT_EQ(c->routes[0].type, 3);
}

TEST(BridgeConfig, HelpAndVersion) {
  std::vector<std::string> args{"ferry-bridge", "--help"};
  std::vector<char*> argv{args[0].data(), args[1].data()};
  std::string output;
  bool exit_now = false;
  auto c = parse_bridge_args(2, argv.data(), &output, &exit_now);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_TRUE(exit_now);
  EXPECT_EQ(output, bridge_usage());
  EXPECT_TRUE(has(output, "usage: ferry-bridge"));
  EXPECT_TRUE(has(output, "NATS"));
  EXPECT_TRUE(has(output, "docs/bridge.md"));
  EXPECT_TRUE(has(output, "$FERRY_BRIDGE_CONFIG"));
  for (const char* flag : {"--session",
                           "--endpoint",
                           "--host",
                           "--namespace",
                           "--server",
                           "--user",
                           "--password",
                           "--token",
                           "--creds",
                           "--nkey",
                           "--nkey-seed",
                           "--tls-ca",
                           "--tls-cert",
                           "--tls-key",
                           "--connect-timeout-ms",
                           "--reconnect-wait-ms",
                           "--reconnect-jitter-ms",
                           "--reconnect-buffer-bytes",
                           "--pending-limit",
                           "--route",
                           "--request-timeout-ms",
                           "--responder-ttl-ms",
                           "--stream",
                           "--stream-replicas",
                           "--stream-storage",
                           "--ack-wait-ms",
                           "--max-deliver",
                           "--dedupe-window",
                           "--duplicate-window-ms",
                           "--state-dir",
                           "--metrics-listen",
                           "--log-level",
                           "--log-format",
                           "--config"}) {
    EXPECT_TRUE(has(output, std::string(flag) + " ")) << flag;
  }
  args[1] = "--version";
  argv[1] = args[1].data();
  auto v = parse_bridge_args(2, argv.data(), &output, &exit_now);
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_TRUE(exit_now);
  EXPECT_TRUE(has(output, "ferry-bridge "));
}

TEST(BridgeConfig, RouteKindsWithTheirDefaults) {
  struct Case {
    const char* text;
    Route::Kind kind;
    const char* subject;
    const char* queue;
  };
  for (const Case& k : {Case{"out 7", Route::Kind::out, "ferry.ns.7", ""},
                        Case{"in 7", Route::Kind::in, "ferry.ns.7", ""},
                        Case{"both 65279", Route::Kind::both, "ferry.ns.65279", ""},
                        Case{"request 8", Route::Kind::request, "ferry.ns.req.8", ""},
                        Case{"serve 0", Route::Kind::serve, "ferry.ns.req.0", "ferry.ns.0"}}) {
    auto r = parse_route(k.text, "ns");
    ASSERT_TRUE(r) << k.text << ": " << r.error().message();
    EXPECT_EQ(r->kind, k.kind) << k.text;
    EXPECT_EQ(r->subject, k.subject) << k.text;
    EXPECT_EQ(r->queue, k.queue) << k.text;
    EXPECT_EQ(r->delivery, Delivery::core) << k.text;
    EXPECT_EQ(r->when_down, WhenDown::backpressure) << k.text;
  }
  auto out = parse_route("out 7", "ns");
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->sends_out());
  EXPECT_FALSE(out->takes_in());
  auto both = parse_route("both 7", "ns");
  ASSERT_TRUE(both);
  EXPECT_TRUE(both->sends_out());
  EXPECT_TRUE(both->takes_in());
  auto in = parse_route("in 7", "ns");
  ASSERT_TRUE(in);
  EXPECT_FALSE(in->sends_out());
  EXPECT_TRUE(in->takes_in());
}

TEST(BridgeConfig, RouteOptions) {
  auto out = parse_route("out 7 subject=orders.new delivery=jetstream when_down=drop_oldest", "ns");
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->subject, "orders.new");
  EXPECT_EQ(out->delivery, Delivery::jetstream);
  EXPECT_EQ(out->when_down, WhenDown::drop_oldest);

  auto both = parse_route("both  12\twhen_down=fail  delivery=core", "ns");  // any spacing
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_EQ(both->type, 12);
  EXPECT_EQ(both->subject, "ferry.ns.12");
  EXPECT_EQ(both->when_down, WhenDown::fail);
  EXPECT_EQ(both->delivery, Delivery::core);

  auto backpressure = parse_route("out 7 when_down=backpressure", "ns");
  ASSERT_TRUE(backpressure) << backpressure.error().message();
  EXPECT_EQ(backpressure->when_down, WhenDown::backpressure);

  auto in = parse_route("in 7 subject=orders.*.created delivery=jetstream", "ns");
  ASSERT_TRUE(in) << in.error().message();
  EXPECT_EQ(in->subject, "orders.*.created");
  EXPECT_EQ(in->delivery, Delivery::jetstream);
  auto all = parse_route("in 7 subject=orders.>", "ns");
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->subject, "orders.>");

  auto request = parse_route("request 8 subject=svc.price", "ns");
  ASSERT_TRUE(request) << request.error().message();
  EXPECT_EQ(request->subject, "svc.price");
  EXPECT_EQ(request->queue, "");

  auto serve = parse_route("serve 8 subject=svc.price queue=pricers", "ns");
  ASSERT_TRUE(serve) << serve.error().message();
  EXPECT_EQ(serve->subject, "svc.price");
  EXPECT_EQ(serve->queue, "pricers");
  auto serve_subject = parse_route("serve 8 subject=svc.price", "ns");
  ASSERT_TRUE(serve_subject) << serve_subject.error().message();
  EXPECT_EQ(serve_subject->queue, "ferry.ns.8");  // the default group, whatever the subject
}

TEST(BridgeConfig, RouteErrors) {
  EXPECT_EQ(route_error("send 7"),
            "route 'send 7': unknown kind 'send': the first word must be out, in, both, "
            "request or serve");
  EXPECT_TRUE(has(route_error(""), "route '': empty"));
  EXPECT_EQ(route_error("out"), "route 'out': no message type after out");
  EXPECT_EQ(route_error("out x"), "route 'out x': type 'x' is not a message type 0..65279");
  EXPECT_EQ(route_error("out 65280"),
            "route 'out 65280': type '65280' is not a message type 0..65279");
  EXPECT_EQ(route_error("out -1"), "route 'out -1': type '-1' is not a message type 0..65279");
  EXPECT_EQ(route_error("out 7 color=red"),
            "route 'out 7 color=red': unknown key 'color' (keys: subject, delivery, when_down, "
            "queue)");
  EXPECT_TRUE(has(route_error("out 7 jetstream"), "'jetstream' is not key=value"));
  EXPECT_TRUE(has(route_error("out 7 =x"), "'=x' is not key=value"));
  // Keys that do not apply to the kind.
  EXPECT_EQ(route_error("out 7 queue=g"),
            "route 'out 7 queue=g': queue= is for serve routes, "
            "not out");
  EXPECT_TRUE(has(route_error("request 8 queue=g"), "queue= is for serve routes, not request"));
  EXPECT_EQ(route_error("request 8 delivery=jetstream"),
            "route 'request 8 delivery=jetstream': delivery= is for out, in and both routes, "
            "not request (requests are NATS request/reply)");
  EXPECT_TRUE(has(route_error("serve 8 delivery=core"),
                  "delivery= is for out, in and both routes, not serve"));
  EXPECT_EQ(route_error("in 7 when_down=fail"),
            "route 'in 7 when_down=fail': when_down= is for out and both routes, not in");
  EXPECT_TRUE(has(route_error("serve 8 when_down=fail"),
                  "when_down= is for out and both routes, not serve"));
  // Bad values.
  EXPECT_EQ(route_error("out 7 delivery=exactly_once"),
            "route 'out 7 delivery=exactly_once': delivery= must be core or jetstream, not "
            "'exactly_once'");
  EXPECT_EQ(route_error("both 7 when_down=block"),
            "route 'both 7 when_down=block': when_down= must be backpressure, drop_oldest or "
            "fail, not 'block'");
  EXPECT_TRUE(has(route_error("serve 8 queue="), "queue= '' is not a queue group name"));
  EXPECT_EQ(route_error("out 7 subject=a subject=b"),
            "route 'out 7 subject=a subject=b': subject= is given twice");
  // Subjects.
  EXPECT_EQ(route_error("out 7 subject="), "route 'out 7 subject=': an empty subject");
  EXPECT_EQ(route_error("out 7 subject=a..b"),
            "route 'out 7 subject=a..b': subject 'a..b' has an empty token (tokens are "
            "separated by single dots)");
  EXPECT_TRUE(has(route_error("out 7 subject=.a"), "subject '.a' has an empty token"));
  EXPECT_TRUE(has(route_error("out 7 subject=a."), "subject 'a.' has an empty token"));
  EXPECT_TRUE(has(route_error("out 7 subject=a\x01"), "has white space or a control character"));
  EXPECT_TRUE(has(route_error("in 7 subject=a.>.b"), "'>' may only be the last token"));
  EXPECT_TRUE(has(route_error("in 7 subject=a*"),
                  "'*' and '>' are wildcards only as whole "
                  "tokens"));
  // Wildcards anywhere but on "in".
  EXPECT_EQ(route_error("out 7 subject=a.*"),
            "route 'out 7 subject=a.*': subject 'a.*' has a wildcard, which only an in route "
            "may have (this route publishes or requests on one subject)");
  for (const char* kind : {"out", "both", "request", "serve"}) {
    for (const char* subject : {"a.*", "a.>", ">", "*.b"}) {
      const std::string text = std::string(kind) + " 7 subject=" + subject;
      EXPECT_TRUE(has(route_error(text), "has a wildcard")) << text;
    }
  }
  // Through the flags and the file, the error names where the route came from.
  EXPECT_EQ(error_of({"--route", "out 7 queue=g"}),
            "--route: route 'out 7 queue=g': queue= is for serve routes, not out");
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.write("bridge.toml", "\nroute = [\"out 7\", \"in x\"]\n");
  EXPECT_TRUE(has(error_of({"--config", path}),
                  "bridge.toml:2: route: route 'in x': type 'x' is not a message type"));
}

TEST(BridgeConfig, TheNamespaceInAnyOrder) {
  for (const auto& args : {std::vector<std::string>{"--namespace", "x", "--route", "out 7"},
                           std::vector<std::string>{"--route", "out 7", "--namespace", "x"}}) {
    auto c = parse(args);
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_EQ(c->routes.size(), 1u);
    EXPECT_EQ(c->routes[0].subject, "ferry.x.7") << args[0];
    EXPECT_EQ(c->stream, "FERRY_X") << args[0];
  }
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string route_first = dir.write(
      "a.toml", "route = [\"serve 8\", \"request 9\", \"in 10\"]\nnamespace = \"eu-west_2\"\n");
  auto c = parse({"--config", route_first});
  ASSERT_TRUE(c) << c.error().message();
  ASSERT_EQ(c->routes.size(), 3u);
  EXPECT_EQ(c->routes[0].subject, "ferry.eu-west_2.req.8");
  EXPECT_EQ(c->routes[0].queue, "ferry.eu-west_2.8");
  EXPECT_EQ(c->routes[1].subject, "ferry.eu-west_2.req.9");
  EXPECT_EQ(c->routes[2].subject, "ferry.eu-west_2.10");
  EXPECT_EQ(c->stream, "FERRY_EU_WEST_2");
  // The file's routes, the flag's namespace; an explicit subject stays as given.
  const std::string routes = dir.write("b.toml", "route = [\"out 7\", \"in 8 subject=s.8\"]\n");
  auto d = parse({"--config", routes, "--namespace", "y"});
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_EQ(d->routes[0].subject, "ferry.y.7");
  EXPECT_EQ(d->routes[1].subject, "s.8");
  // An explicit stream is kept.
  auto e = parse({"--namespace", "z", "--stream", "MINE", "--route", "out 7"});
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->stream, "MINE");

  EXPECT_EQ(error_of({"--namespace", "a.b", "--route", "out 7"}),
            "--namespace: namespace 'a.b' must be letters, digits, - and _ only (it is a token "
            "of NATS subjects)");
  EXPECT_TRUE(has(error_of({"--namespace", "", "--route", "out 7"}), "namespace ''"));
  EXPECT_TRUE(has(error_of({"--namespace", "a*", "--route", "out 7"}), "namespace 'a*'"));
}

TEST(BridgeConfig, RoutesThatConflict) {
  EXPECT_EQ(error_of({}), R"(no routes: give at least one (route = ["out 7"] in the file, or )"
                          R"(--route "out 7"))");
  EXPECT_EQ(error_of({"--route", "out 7", "--route", "both 7"}),
            "routes 'out 7' and 'both 7' both send type 7 out: each message would be published "
            "to NATS twice (one route per type and direction)");
  EXPECT_TRUE(has(error_of({"--route", "out 7", "--route", "out 7 subject=other"}),
                  "routes 'out 7' and 'out 7' both send type 7 out"));
  EXPECT_EQ(error_of({"--route", "in 7", "--route", "in 7 subject=x.>"}),
            "routes 'in 7' and 'in 7' both take type 7 in: each message from NATS would be "
            "published twice on the bus (one route per type and direction)");
  EXPECT_TRUE(has(error_of({"--route", "both 7", "--route", "in 7"}),
                  "routes 'both 7' and 'in 7' both take type 7 in"));
  EXPECT_EQ(error_of({"--route", "request 8", "--route", "serve 8"}),
            "routes 'request 8' and 'serve 8' on one bridge: it would answer its own requests "
            "of type 8 (request a type where it is asked, serve it where it is answered)");
  EXPECT_TRUE(has(error_of({"--route", "serve 8", "--route", "request 8 subject=x"}),
                  "it would answer its own requests of type 8"));
  EXPECT_EQ(error_of({"--route", "request 8", "--route", "request 8 subject=x"}),
            "routes 'request 8' and 'request 8': type 8 has two request routes (one subject "
            "per type)");
  EXPECT_TRUE(
      has(error_of({"--route", "serve 8", "--route", "serve 8"}), "type 8 has two serve routes"));
  // What may go together: out and in of one type, publications and requests of one type,
  // and different types.
  auto ok = parse({"--route", "out 7", "--route", "in 7 subject=other.7", "--route", "serve 7",
                   "--route", "both 8", "--route", "request 9", "--route", "serve 10"});
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(ok->routes.size(), 6u);
}

TEST(BridgeConfig, Servers) {
  for (const char* good : {"nats://h", "nats://h:4222", "tls://h.example:4443", "nats://10.0.0.1",
                           "nats://[::1]:4222", "nats://[fe80::1]", "nats://h:4222/"}) {
    auto c = parse({"--route", "out 7", "--server", good});
    EXPECT_TRUE(c) << good << ": " << c.error().message();
  }
  EXPECT_EQ(error_of({"--route", "out 7", "--server", "http://h:4222"}),
            "--server: server 'http://h:4222': the URL must start with nats:// or tls:// (use "
            "nats://HOST[:PORT] or tls://HOST[:PORT])");
  EXPECT_TRUE(has(error_of({"--server", "h:4222"}), "must start with nats:// or tls://"));
  EXPECT_TRUE(has(error_of({"--server", "nats://"}), "server 'nats://': no host"));
  EXPECT_TRUE(has(error_of({"--server", "nats://:4222"}), "no host"));
  EXPECT_TRUE(has(error_of({"--server", "nats://h:99999"}), "the port must be a number"));
  EXPECT_TRUE(has(error_of({"--server", "nats://h:0"}), "the port must be a number"));
  EXPECT_TRUE(has(error_of({"--server", "nats://h:x"}), "the port must be a number"));
  EXPECT_TRUE(has(error_of({"--server", "nats://u:p@h"}), "credentials go in user and password"));
  EXPECT_TRUE(has(error_of({"--server", "nats://h/x"}), "a NATS URL has no path"));
  EXPECT_TRUE(has(error_of({"--server", "nats://[::1"}), "an unclosed ["));
  EXPECT_TRUE(has(error_of({"--server", "nats://h 1"}), "white space"));
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string none = dir.write("none.toml", "servers = []\nroute = [\"out 7\"]\n");
  EXPECT_TRUE(has(error_of({"--config", none}), "no NATS servers"));
  const std::string bad = dir.write("bad.toml", "servers = [\"nats://a\", \"ws://b\"]\n");
  EXPECT_TRUE(has(error_of({"--config", bad}),
                  "bad.toml:1: servers: server 'ws://b': the URL must start with"));
}

TEST(BridgeConfig, Credentials) {
  const std::vector<std::string> route{"--route", "out 7"};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), route.begin(), route.end());
    return error_of(std::move(args));
  };
  EXPECT_EQ(with({"--user", "u"}), "user is set without password");
  EXPECT_EQ(with({"--password", "p"}), "password is set without user");
  EXPECT_EQ(with({"--user", "u", "--password", "p", "--token", "t"}),
            "token and user are two ways to authenticate: set one of them");
  EXPECT_EQ(with({"--creds", "/a.creds", "--nkey-seed", "/a.nk"}),
            "creds and nkey_seed are two ways to authenticate: set one of them (a .creds file "
            "holds its own NKEY seed)");
  EXPECT_EQ(with({"--nkey-seed", "/a.nk"}),
            "nkey and nkey_seed go together: the public key and the file holding its seed");
  EXPECT_EQ(with({"--nkey", "UABC"}),
            "nkey and nkey_seed go together: the public key and the file holding its seed");
  EXPECT_EQ(with({"--tls-cert", "/c.pem"}), "tls_cert is set without tls_key");
  EXPECT_EQ(with({"--tls-key", "/k.pem"}), "tls_key is set without tls_cert");
  auto ok = parse({"--user", "u", "--password", "p", "--route", "out 7"});
  ASSERT_TRUE(ok) << ok.error().message();
  auto token = parse({"--token", "t", "--route", "out 7"});
  ASSERT_TRUE(token) << token.error().message();
}

TEST(BridgeConfig, FilesThatCannotBeRead) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string good = dir.write("good.pem", "x");
  const std::string missing = dir.path() + "/gone.pem";
  struct Case {
    std::vector<std::string> flags;
    std::string key;
  };
  for (const Case& k : {Case{{"--tls-ca", missing}, "tls_ca"},
                        Case{{"--tls-cert", missing, "--tls-key", good}, "tls_cert"},
                        Case{{"--tls-cert", good, "--tls-key", missing}, "tls_key"},
                        Case{{"--creds", missing}, "creds"},
                        Case{{"--nkey", "UABC", "--nkey-seed", missing}, "nkey_seed"}}) {
    std::vector<std::string> args = k.flags;
    args.insert(args.end(), {"--route", "out 7"});
    auto r = parse(args);
    ASSERT_FALSE(r) << k.key;
    EXPECT_EQ(r.error().message(),
              k.key + ": cannot read '" + missing + "': No such file or directory");
    EXPECT_EQ(r.error().code(), Errc::not_found) << k.key;
  }
  EXPECT_EQ(error_of({"--tls-ca", dir.path(), "--route", "out 7"}),
            "tls_ca: cannot read '" + dir.path() + "': Is a directory");
  if (::geteuid() != 0) {  // root reads whatever the mode says
    const std::string closed = dir.write("closed.pem", "x");
    std::filesystem::permissions(closed, std::filesystem::perms::none);
    auto r = parse({"--creds", closed, "--route", "out 7"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "creds: cannot read '" + closed + "': Permission denied");
    EXPECT_EQ(r.error().code(), Errc::permission);
  }
  auto ok = parse({"--tls-ca", good, "--tls-cert", good, "--tls-key", good, "--creds", good,
                   "--route", "out 7"});
  ASSERT_TRUE(ok) << ok.error().message();
}

TEST(BridgeConfig, ValuesOutOfRange) {
  const auto with = [](std::vector<std::string> args) {
    args.insert(args.end(), {"--route", "out 7"});
    return error_of(std::move(args));
  };
  EXPECT_EQ(with({"--stream-replicas", "0"}), "--stream-replicas: expected an integer 1..5, got 0");
  EXPECT_EQ(with({"--stream-replicas", "6"}), "--stream-replicas: expected an integer 1..5, got 6");
  EXPECT_EQ(with({"--stream-replicas", "5"}), "(accepted)");
  EXPECT_EQ(with({"--max-deliver", "1001"}),
            "--max-deliver: expected an integer 1..1000, got 1001");
  EXPECT_EQ(with({"--max-deliver", "0"}), "--max-deliver: expected an integer 1..1000, got 0");
  EXPECT_EQ(with({"--dedupe-window", "10000001"}),
            "--dedupe-window: expected an integer 0..10000000, got 10000001");
  EXPECT_EQ(with({"--dedupe-window", "10000000"}), "(accepted)");
  EXPECT_EQ(with({"--stream-storage", "disk"}),
            "--stream-storage: expected file or memory, got 'disk'");
  EXPECT_TRUE(has(with({"--stream", "A.B"}), "--stream: stream name 'A.B' must be one word"));
  EXPECT_TRUE(has(with({"--stream", ""}), "--stream: stream name ''"));
  EXPECT_EQ(with({"--reconnect-buffer-bytes", "2GiB"}),
            "--reconnect-buffer-bytes: expected 0 to 1GiB");
  EXPECT_TRUE(has(with({"--reconnect-buffer-bytes", "8 parsecs"}), "bad size"));
  EXPECT_EQ(with({"--connect-timeout-ms", "0"}),
            "--connect-timeout-ms: expected an integer 1..86400000, got 0");
  EXPECT_EQ(with({"--reconnect-jitter-ms", "0"}), "(accepted)");
  EXPECT_EQ(with({"--metrics-listen", "example.com:1"}),
            "--metrics-listen: listen address 'example.com:1': the address must be a numeric "
            "IPv4 address or [IPv6] (use ADDRESS:PORT, e.g. 127.0.0.1:9443)");
  EXPECT_EQ(with({"--metrics-listen", "[::1]:9470"}), "(accepted)");
  EXPECT_EQ(with({"--log-level", "loud"}),
            "--log-level: expected error, warn, info or debug, got 'loud'");
  EXPECT_EQ(with({"--log-format", "xml"}), "--log-format: expected json or text, got 'xml'");
  EXPECT_TRUE(has(with({"--session", "a/b"}), "--session: "));
  EXPECT_TRUE(has(with({"--endpoint", "a/b"}), "--endpoint: "));
}

}  // namespace
}  // namespace ferry::bridge
