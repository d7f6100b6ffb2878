// SPDX-License-Identifier: Apache-2.0
// tools/gateway/config.cpp: ferry-gateway's settings (config.hpp).
#include "gateway/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <span>

#include "common/command_line.hpp"
#include "common/config_file.hpp"
#include "common/number.hpp"
#include "common/quoted.hpp"
#include "ferry/version.hpp"

namespace ferry::gateway {

namespace {

using tools::ConfigValue;
using tools::quoted;
using Option = tools::ConfigOption<GatewayConfig>;

constexpr std::uint64_t kMaxU32 = 0xffffffffu;

using tools::add_items;
using tools::set_listen;
using tools::set_ms;
using tools::set_string;
using tools::set_u32;

const Option kOptions[] = {
    {"session", "--session", "NAME", "the local bus's session (default $FERRY_SESSION, login)",
     [](GatewayConfig& c, const ConfigValue& in) { return tools::set_session(in, &c.session); }},
    {"endpoint", "--endpoint", "NAME", "the local bus's endpoint (bus)",
     [](GatewayConfig& c, const ConfigValue& in) { return tools::set_endpoint(in, &c.endpoint); }},
    {"node", "--node", "NAME", "this gateway's name in hellos and logs (the host name)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.node); }},
    {"listen", "--listen", "ADDR:PORT", "take peers' connections here (none)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_listen(in, &c.listen); }},
    {"plain", "", "", "",
     [](GatewayConfig& c, const ConfigValue& in) -> Result<void> {
       auto b = in.boolean();
       if (!b) return b.error();
       c.plain = *b;
       return {};
     }},
    {"", "--plain", "", "ws:// without TLS (a loopback listen address only)",
     [](GatewayConfig& c, const ConfigValue&) -> Result<void> {
       c.plain = true;
       return {};
     }},
    {"tls_cert", "--tls-cert", "FILE", "the listener's certificate chain (PEM)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_cert); }},
    {"tls_key", "--tls-key", "FILE", "its private key (PEM)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_key); }},
    {"tls_client_ca", "--tls-client-ca", "FILE",
     "require client certificates signed by this CA (none)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_client_ca); }},
    {"tls_client_allow", "--tls-client-allow", "ID",
     "accept only these client certificates: CN=name or DNS:name (repeat)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return add_items(
           in, "strings", &c.tls_client_allow, [](const std::string& s) -> Result<std::string> {
             if (s.rfind("CN=", 0) != 0 && s.rfind("DNS:", 0) != 0) {
               return Error(Errc::invalid_argument, quoted(s) + " is neither CN=name nor DNS:name");
             }
             return s;
           });
     }},
    {"allow_origins", "--allow-origin", "ORIGIN",
     "accept Upgrades with this Origin header only (repeat; default: any)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return add_items(in, "strings", &c.allow_origins,
                        [](const std::string& s) -> Result<std::string> { return s; });
     },
     [](GatewayConfig& c) { c.allow_origins.clear(); }},
    {"upstream", "--upstream", "NAME=URL", "a peer to connect to, ws:// or wss:// (repeat)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return add_items(in, "strings", &c.upstreams, parse_upstream);
     },
     [](GatewayConfig& c) { c.upstreams.clear(); }},
    {"route", "--route", "ROUTE", R"("publish T NAME" or "request T NAME" (repeat))",
     [](GatewayConfig& c, const ConfigValue& in) {
       return add_items(in, "strings", &c.routes, parse_route);
     },
     [](GatewayConfig& c) { c.routes.clear(); }},
    {"accept", "--accept", "T", "take this message type from peers (repeat)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return add_items(in, "message types", &c.accept, [](const std::string& s) {
         return tools::parse_message_type(s, "accept");
       });
     },
     [](GatewayConfig& c) { c.accept.clear(); }},
    {"tls_ca", "--tls-ca", "FILE", "CA certificates for upstreams (the system's)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_ca); }},
    {"tls_upstream_cert", "--tls-upstream-cert", "FILE", "a client certificate for upstreams",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_upstream_cert); }},
    {"tls_upstream_key", "--tls-upstream-key", "FILE", "its private key",
     [](GatewayConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_upstream_key); }},
    {"max_message_bytes", "--max-message-bytes", "SIZE", "largest WebSocket message taken (1MiB)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return tools::set_size(in, 1024, 1u << 30, &c.max_message_bytes);
     }},
    {"queue_bytes", "--queue-bytes", "SIZE",
     "most bytes waiting to be written to one peer; more cuts it off (8MiB)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return tools::set_size(in, 4096, 1u << 30, &c.queue_bytes);
     }},
    {"idle_timeout_ms", "--idle-timeout-ms", "MS", "close a peer silent this long (60000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 100, &c.idle_timeout); }},
    {"request_timeout_ms", "--request-timeout-ms", "MS", "fail a carried request after (5000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.request_timeout); }},
    {"connect_timeout_ms", "--connect-timeout-ms", "MS",
     "TCP, TLS and Upgrade to an upstream within (3000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.connect_timeout); }},
    {"pool_min", "--pool-min", "N", "connections kept open to each upstream (1)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_u32(in, 0, 1024, &c.pool_min); }},
    {"pool_max", "--pool-max", "N", "most connections to each upstream (8)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_u32(in, 1, 4096, &c.pool_max); }},
    {"pool_max_inflight", "--pool-max-inflight", "N",
     "requests waiting on one connection before another opens (64)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return set_u32(in, 1, kMaxU32, &c.pool_max_inflight);
     }},
    {"ping_interval_ms", "--ping-interval-ms", "MS", "health-check ping every (5000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 10, &c.ping_interval); }},
    {"ping_timeout_ms", "--ping-timeout-ms", "MS", "a pong later than this fails (2000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.ping_timeout); }},
    {"eject_after", "--eject-after", "N", "failed pings in a row that replace a connection (2)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_u32(in, 1, 1000, &c.eject_after); }},
    {"pool_idle_timeout_ms", "--pool-idle-timeout-ms", "MS",
     "close connections beyond pool_min unused this long (60000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 10, &c.pool_idle_timeout); }},
    {"max_lifetime_ms", "--max-lifetime-ms", "MS",
     "replace a pooled connection after about this long (600000)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_ms(in, 100, &c.max_lifetime); }},
    {"metrics_listen", "--metrics-listen", "ADDR:PORT",
     "serve Prometheus metrics at http://ADDR:PORT/metrics (none)",
     [](GatewayConfig& c, const ConfigValue& in) { return set_listen(in, &c.metrics_listen); }},
    {"log_level", "--log-level", "LEVEL", "error, warn, info or debug (info)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return tools::set_log_level(in, &c.log_level);
     }},
    {"log_format", "--log-format", "FORMAT", "json (one object a line) or text (json)",
     [](GatewayConfig& c, const ConfigValue& in) {
       return tools::set_log_format(in, &c.log_format);
     }},
};

// The file when --config is not given: $FERRY_GATEWAY_CONFIG, else none.
std::string default_config_path() {
  const char* env = std::getenv("FERRY_GATEWAY_CONFIG");
  return env != nullptr ? env : "";
}

// What the settings say together: each a clear line.
Result<void> check(GatewayConfig& c) {
  const auto bad = [](const std::string& why) { return Error(Errc::invalid_argument, why); };
  if (c.node.empty()) {
    std::array<char, 256> host{};
    c.node = ::gethostname(host.data(), host.size() - 1) == 0 ? host.data() : "ferry-gateway";
  }
  if (!c.listen.empty()) {
    if (c.plain && !is_loopback_listen(c.listen)) {
      return bad("plain ws:// listens on loopback addresses only, not " + c.listen +
                 ": use TLS (tls_cert, tls_key) or a 127.0.0.1 address");
    }
    if (!c.plain && (c.tls_cert.empty() || c.tls_key.empty())) {
      return bad("listening on " + c.listen +
                 " with TLS needs tls_cert and tls_key (or plain = true on loopback)");
    }
  }
  if (c.pool_min > c.pool_max) {
    return bad("pool_min " + std::to_string(c.pool_min) + " is above pool_max " +
               std::to_string(c.pool_max));
  }
  for (std::size_t i = 0; i < c.upstreams.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (c.upstreams[i].name == c.upstreams[j].name) {
        return bad("two upstreams are named " + quoted(c.upstreams[i].name));
      }
    }
  }
  for (const Route& r : c.routes) {
    const auto u = std::find_if(c.upstreams.begin(), c.upstreams.end(),
                                [&](const Upstream& up) { return up.name == r.upstream; });
    if (u == c.upstreams.end()) {
      return bad("route of type " + std::to_string(r.type) + " names upstream " +
                 quoted(r.upstream) + ", which is not configured (upstream = [\"" + r.upstream +
                 "=wss://host:port/\"])");
    }
    if (std::find(c.accept.begin(), c.accept.end(), r.type) != c.accept.end()) {
      return bad("type " + std::to_string(r.type) +
                 " is both routed to a peer and accepted from peers: it would come back and "
                 "loop; through one gateway a type flows one way");
    }
    for (const Route& other : c.routes) {
      if (&other != &r && other.type == r.type) {
        return bad("type " + std::to_string(r.type) + " has two routes");
      }
    }
  }
  return {};
}

}  // namespace

Result<Upstream> parse_upstream(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument,
                 "upstream " + quoted(text) + ": " + std::string(why) +
                     " (use NAME=wss://HOST:PORT/PATH, or NAME=ws://... with ;raw=TYPE for a "
                     "service that does not speak ferry.v1)");
  };
  Upstream u;
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) return bad("no NAME=");
  u.name = std::string(text.substr(0, eq));
  std::string_view url = text.substr(eq + 1);
  if (const std::size_t semi = url.find(';'); semi != std::string_view::npos) {
    const std::string_view option = url.substr(semi + 1);
    url = url.substr(0, semi);
    if (option.rfind("raw=", 0) != 0) return bad("unknown option " + quoted(option));
    auto t = tools::parse_message_type(option.substr(4), "raw");
    if (!t) return bad(t.error().message());
    u.raw = true;
    u.raw_type = *t;
  }
  if (url.rfind("wss://", 0) == 0) {
    url.remove_prefix(6);
  } else if (url.rfind("ws://", 0) == 0) {
    u.tls = false;
    url.remove_prefix(5);
  } else {
    return bad("the URL must start with wss:// or ws://");
  }
  const std::size_t slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) u.target = std::string(url.substr(slash));
  std::size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("an unclosed [");
    if (colon < close) colon = std::string_view::npos;
  }
  if (colon == std::string_view::npos) {
    u.host = std::string(authority);
    u.port = u.tls ? "443" : "80";
  } else {
    u.host = std::string(authority.substr(0, colon));
    u.port = std::string(authority.substr(colon + 1));
    if (!tools::parse_number<std::uint16_t>(u.port)) return bad("a port must be 0..65535");
  }
  if (u.host.size() > 2 && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  if (u.host.empty()) return bad("no host");
  return u;
}

Result<Route> parse_route(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, "route " + quoted(text) + ": " + std::string(why) +
                                             R"( (use "publish T NAME" or "request T NAME"))");
  };
  std::vector<std::string_view> words;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find(' ', at), text.size());
    if (end > at) words.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  if (words.size() != 3) return bad("three words expected");
  Route r;
  if (words[0] == "publish") {
    r.kind = Route::Kind::publish;
  } else if (words[0] == "request") {
    r.kind = Route::Kind::request;
  } else {
    return bad("the first word must be publish or request");
  }
  auto t = tools::parse_message_type(words[1], "type");
  if (!t) return bad(t.error().message());
  r.type = *t;
  r.upstream = std::string(words[2]);
  return r;
}

bool is_loopback_listen(std::string_view listen) {
  const std::size_t colon = listen.rfind(':');
  const std::string_view host = listen.substr(0, colon);
  return host.rfind("127.", 0) == 0 || host == "[::1]";
}

std::string gateway_usage() {
  return "usage: ferry-gateway [OPTION...]\n"
         "\n"
         "Carries ferry messages between this host's bus and other hosts over WebSocket\n"
         "(ferry.v1, docs/gateway_protocol.md): the routes' types go out to upstreams, the\n"
         "accepted types come in from peers. Defaults in parentheses; see docs/gateway.md.\n"
         "\n"
         "Options (each also a key of the config file, with _ for -):\n" +
         tools::flag_help(tools::config_flags<GatewayConfig>(kOptions), 30) +
         "\n"
         "Repeated flags add up and replace the file's list. Config file: --config PATH,\n"
         "else $FERRY_GATEWAY_CONFIG if set; flags override it.\n";
}

Result<GatewayConfig> parse_gateway_args(int argc, char** argv, std::string* output,
                                         bool* exit_now) {
  const tools::ConfigCommand command{"ferry-gateway", FERRY_VERSION_STRING, gateway_usage,
                                     default_config_path};
  auto parsed =
      tools::parse_config_command<GatewayConfig>(argc, argv, kOptions, command, output, exit_now);
  if (!parsed || (exit_now != nullptr && *exit_now)) return parsed;
  if (auto r = check(*parsed); !r) return r.error();
  return parsed;
}

}  // namespace ferry::gateway
