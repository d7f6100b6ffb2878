// SPDX-License-Identifier: Apache-2.0
// tools/gateway/config.hpp: ferry-gateway's configuration, from its TOML file and its flags
// (every key is also a flag, with - for _; docs/gateway.md lists them). The file is
// --config PATH, else $FERRY_GATEWAY_CONFIG; without either, the flags alone.
// Thread-safety: plain functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/result.hpp"

namespace ferry::gateway {

// Where a gateway connects: "NAME=URL", the URL ws:// or wss://; "NAME=URL;raw=T" for a
// WebSocket service that does not speak ferry.v1 (what it sends is published as type T).
struct Upstream {
  std::string name;
  bool tls = true;
  std::string host;
  std::string port;
  std::string target = "/";
  bool raw = false;
  std::uint16_t raw_type = 0;
};
Result<Upstream> parse_upstream(std::string_view text);

// A message type that leaves through an upstream: "publish T NAME" (publications of type
// T on the local bus) or "request T NAME" (requests of type T, answered from there).
struct Route {
  enum class Kind : std::uint8_t { publish, request };
  Kind kind = Kind::publish;
  std::uint16_t type = 0;
  std::string upstream;
};
Result<Route> parse_route(std::string_view text);

struct GatewayConfig {
  // The local bus.
  std::string session;  // empty: ferry's resolution ($FERRY_SESSION, ...)
  std::string endpoint = "bus";
  std::string node;  // this gateway's name in hellos and logs (default: the host name)

  // The listener (peers connect here): "ADDRESS:PORT"; empty: none.
  std::string listen;
  bool plain = false;  // ws:// instead of wss://, only on a loopback address
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;                  // require client certificates signed by it
  std::vector<std::string> tls_client_allow;  // "CN=name" or "DNS:name"; empty: any
  std::vector<std::string> allow_origins;     // Origin headers accepted; empty: any or none

  // Towards upstreams.
  std::vector<Upstream> upstreams;
  std::vector<Route> routes;
  std::vector<std::uint16_t> accept;  // types taken from peers (publications and requests)
  std::string tls_ca;                 // CA file for upstream certificates (default: system)
  std::string tls_upstream_cert;      // a client certificate, for upstreams that want one
  std::string tls_upstream_key;

  // Limits and timing.
  std::uint32_t max_message_bytes = 1u << 20;
  std::uint32_t queue_bytes = 8u << 20;  // per connection, waiting to be written
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{5'000};
  std::chrono::milliseconds connect_timeout{3'000};

  // The pool, per upstream.
  std::uint32_t pool_min = 1;
  std::uint32_t pool_max = 8;
  std::uint32_t pool_max_inflight = 64;  // requests waiting on one connection
  std::chrono::milliseconds ping_interval{5'000};
  std::chrono::milliseconds ping_timeout{2'000};
  std::uint32_t eject_after = 2;  // failed pings in a row
  std::chrono::milliseconds pool_idle_timeout{60'000};
  std::chrono::milliseconds max_lifetime{600'000};

  std::string metrics_listen;  // "ADDRESS:PORT" for GET /metrics; empty: none
  std::string log_level = "info";
  std::string log_format = "json";
  std::string config_path;
};

// Parses argv (flags override the file). `--help` / `--version` set *exit_now and fill
// *output. Errors are one line (invalid_argument, not_found, permission).
Result<GatewayConfig> parse_gateway_args(int argc, char** argv, std::string* output,
                                         bool* exit_now);

std::string gateway_usage();

// Whether `listen` ("ADDRESS:PORT") is on a loopback address (127.0.0.0/8 or ::1).
bool is_loopback_listen(std::string_view listen);

}  // namespace ferry::gateway
