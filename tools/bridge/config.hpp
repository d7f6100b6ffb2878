// SPDX-License-Identifier: Apache-2.0
// tools/bridge/config.hpp: ferry-bridge's configuration, from its TOML file and its flags
// (every key is also a flag, with - for _; docs/bridge.md lists them). The file is
// --config PATH, else $FERRY_BRIDGE_CONFIG; without either, the flags alone.
// Thread-safety: plain functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/result.hpp"

namespace ferry::bridge {

// How a route's messages cross NATS.
enum class Delivery : std::uint8_t {
  core,       // at most once, fastest; gaps are counted by per-origin sequence numbers
  jetstream,  // at least once through a stream; duplicates dropped by Nats-Msg-Id and locally
};

// What a route does with local publications while NATS is away and the reconnect buffer
// is full.
enum class WhenDown : std::uint8_t {
  backpressure,  // stop reading the bus: local publishers wait (their rings fill)
  drop_oldest,   // drop the oldest buffered message, counted
  fail,          // drop the new message, counted and logged
};

// One mapping between a message type and a NATS subject:
//   "out T [key=value...]"      local publications of T -> NATS
//   "in T [key=value...]"       NATS -> publications of T on the local bus
//   "both T [key=value...]"     both ways (what came in from NATS never goes back out)
//   "request T [key=value...]"  local requests of T -> NATS request/reply, answered on
//                               another host (served locally while a remote responder exists)
//   "serve T [key=value...]"    NATS requests -> the local client serving T; in a queue
//                               group, so that several hosts share them
// Keys: subject=SUBJECT (default ferry.NAMESPACE.T, requests ferry.NAMESPACE.req.T; a
// wildcard * or > only on "in"), delivery=core|jetstream (out, in, both),
// when_down=backpressure|drop_oldest|fail (out, both), queue=GROUP (serve; default
// ferry.NAMESPACE.T).
struct Route {
  enum class Kind : std::uint8_t { out, in, both, request, serve };
  Kind kind = Kind::out;
  std::uint16_t type = 0;
  std::string subject;  // always set after parsing (the default filled in)
  Delivery delivery = Delivery::core;
  WhenDown when_down = WhenDown::backpressure;
  std::string queue;  // serve only (the default filled in)

  bool sends_out() const noexcept { return kind == Kind::out || kind == Kind::both; }
  bool takes_in() const noexcept { return kind == Kind::in || kind == Kind::both; }
};
// `ns`: the namespace, for the default subject and queue group.
Result<Route> parse_route(std::string_view text, std::string_view ns);

struct BridgeConfig {
  // The local bus.
  std::string session;  // empty: ferry's resolution ($FERRY_SESSION, ...)
  std::string endpoint = "bus";
  std::string host;  // this bridge's host name in origins and logs (default: the host name)
  std::string ns = "default";  // key "namespace": subjects ferry.NAMESPACE.*

  // NATS.
  std::vector<std::string> servers{"nats://127.0.0.1:4222"};  // a cluster: several URLs
  std::string user;                                           // with password
  std::string password;
  std::string token;
  std::string creds;      // a .creds file (JWT and NKEY seed)
  std::string nkey;       // the user's public NKEY (U...), with nkey_seed
  std::string nkey_seed;  // a file holding an NKEY seed (user NKEY authentication)
  std::string tls_ca;     // CA file to verify the servers (tls:// URLs; set: TLS required)
  std::string tls_cert;   // a client certificate, for servers that want one
  std::string tls_key;
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds reconnect_wait{250};    // between attempts on one server
  std::chrono::milliseconds reconnect_jitter{100};  // up to this much added at random
  std::uint32_t reconnect_buffer_bytes = 8u << 20;  // held while NATS is away, per bridge
  // Messages a subscription may hold that the bridge has not taken yet; beyond, the NATS
  // client drops them and reports a slow consumer.
  std::uint32_t pending_limit = 65'536;

  std::vector<Route> routes;

  // Requests.
  std::chrono::milliseconds request_timeout{5'000};
  std::chrono::milliseconds responder_ttl{3'000};  // a remote responder's advert lasts this

  // JetStream.
  std::string stream;                   // default FERRY_NAMESPACE (upper case, - as _)
  std::uint32_t stream_replicas = 1;    // 1..5
  std::string stream_storage = "file";  // file or memory
  std::chrono::milliseconds ack_wait{5'000};
  std::uint32_t max_deliver = 5;          // bounded redelivery, then it is dropped (counted)
  std::uint32_t dedupe_window = 100'000;  // per origin: sequence numbers remembered
  std::chrono::milliseconds duplicate_window{120'000};  // the stream's Nats-Msg-Id window
  std::string state_dir;  // the dedupe state survives restarts here (default: the runtime dir)

  std::string metrics_listen;  // "ADDRESS:PORT" for GET /metrics; empty: none
  std::string log_level = "info";
  std::string log_format = "json";
  std::string config_path;
};

// Parses argv (flags override the file). `--help` / `--version` set *exit_now and fill
// *output. Errors are one line naming the key or flag (invalid_argument, not_found,
// permission): an unknown type, a wildcard where none is allowed, two routes that
// conflict, a TLS or credentials file that cannot be read.
Result<BridgeConfig> parse_bridge_args(int argc, char** argv, std::string* output, bool* exit_now);

std::string bridge_usage();

}  // namespace ferry::bridge
