// SPDX-License-Identifier: Apache-2.0
// tools/bridge/config.cpp: ferry-bridge's settings (config.hpp).
#include "bridge/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <span>
#include <utility>

#include "common/command_line.hpp"
#include "common/config_file.hpp"
#include "common/number.hpp"
#include "common/quoted.hpp"
#include "ferry/unique_fd.hpp"
#include "ferry/version.hpp"

namespace ferry::bridge {

namespace {

using tools::add_items;
using tools::ConfigValue;
using tools::quoted;
using tools::set_ms;
using tools::set_string;
using tools::set_u32;
using Option = tools::ConfigOption<BridgeConfig>;

constexpr std::uint64_t kMaxBufferBytes = std::uint64_t{1} << 30;

bool is_space_or_control(char c) {
  return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
}

// The words of a route, split at white space.
std::vector<std::string_view> words_of(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
    std::size_t end = at;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t') ++end;
    if (end > at) words.push_back(text.substr(at, end - at));
    at = end;
  }
  return words;
}

// A NATS subject: tokens separated by single dots, none empty, no white space or control
// characters; `*` (a whole token) and `>` (the whole last token) are wildcards, allowed
// only when `wildcards`. The problem, or "" when it is valid.
std::string subject_problem(std::string_view subject, bool wildcards) {
  const std::string s = "subject " + quoted(subject);
  if (subject.empty()) return "an empty subject";
  for (const char c : subject) {
    if (is_space_or_control(c)) return s + " has white space or a control character";
  }
  bool wildcard = false;
  std::size_t at = 0;
  for (;;) {
    const std::size_t dot = std::min(subject.find('.', at), subject.size());
    const std::string_view token = subject.substr(at, dot - at);
    const bool last = dot == subject.size();
    if (token.empty()) return s + " has an empty token (tokens are separated by single dots)";
    if (token == "*" || token == ">") {
      if (token == ">" && !last) return s + ": '>' may only be the last token";
      wildcard = true;
    } else if (token.find_first_of("*>") != std::string_view::npos) {
      return s + ": '*' and '>' are wildcards only as whole tokens";
    }
    if (last) break;
    at = dot + 1;
  }
  if (wildcard && !wildcards) {
    return s + " has a wildcard, which only an in route may have (this route publishes or " +
           "requests on one subject)";
  }
  return {};
}

// A queue group name: one or more characters, no white space or control characters.
bool is_queue_name(std::string_view name) {
  return !name.empty() && std::ranges::none_of(name, is_space_or_control);
}

std::string_view kind_name(Route::Kind kind) {
  switch (kind) {
    case Route::Kind::out: return "out";
    case Route::Kind::in: return "in";
    case Route::Kind::both: return "both";
    case Route::Kind::request: return "request";
    case Route::Kind::serve: return "serve";
  }
  return "?";
}

// "'out 7'", how a conflict names a route.
std::string describe(const Route& r) {
  return "'" + std::string(kind_name(r.kind)) + " " + std::to_string(r.type) + "'";
}

// A route as written: subject and queue stay empty where they were not given, to be
// filled from the namespace (fill_defaults()) once every setting is known.
Result<Route> parse_route_text(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, "route " + quoted(text) + ": " + std::string(why));
  };
  const std::vector<std::string_view> words = words_of(text);
  if (words.empty()) return bad(R"(empty (use "KIND T [key=value...]", e.g. "out 7"))");
  Route r;
  if (words[0] == "out") {
    r.kind = Route::Kind::out;
  } else if (words[0] == "in") {
    r.kind = Route::Kind::in;
  } else if (words[0] == "both") {
    r.kind = Route::Kind::both;
  } else if (words[0] == "request") {
    r.kind = Route::Kind::request;
  } else if (words[0] == "serve") {
    r.kind = Route::Kind::serve;
  } else {
    return bad("unknown kind " + quoted(words[0]) +
               ": the first word must be out, in, both, request or serve");
  }
  if (words.size() < 2) return bad("no message type after " + std::string(words[0]));
  auto t = tools::parse_message_type(words[1], "type");
  if (!t) return bad(t.error().message());
  r.type = *t;

  const bool publishes =
      r.kind == Route::Kind::out || r.kind == Route::Kind::in || r.kind == Route::Kind::both;
  const std::string kind(kind_name(r.kind));
  bool seen[4] = {false, false, false, false};  // subject, delivery, when_down, queue
  for (std::size_t i = 2; i < words.size(); ++i) {
    const std::string_view word = words[i];
    const std::size_t eq = word.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return bad(quoted(word) + " is not key=value (keys: subject, delivery, when_down, queue)");
    }
    const std::string_view key = word.substr(0, eq);
    const std::string_view value = word.substr(eq + 1);
    std::size_t index = 0;
    if (key == "subject") {
      index = 0;
      r.subject = std::string(value);
      if (auto problem = subject_problem(value, r.kind == Route::Kind::in); !problem.empty()) {
        return bad(problem);
      }
    } else if (key == "delivery") {
      index = 1;
      if (!publishes) {
        return bad("delivery= is for out, in and both routes, not " + kind +
                   " (requests are NATS request/reply)");
      }
      if (value == "core") {
        r.delivery = Delivery::core;
      } else if (value == "jetstream") {
        r.delivery = Delivery::jetstream;
      } else {
        return bad("delivery= must be core or jetstream, not " + quoted(value));
      }
    } else if (key == "when_down") {
      index = 2;
      if (!r.sends_out()) return bad("when_down= is for out and both routes, not " + kind);
      if (value == "backpressure") {
        r.when_down = WhenDown::backpressure;
      } else if (value == "drop_oldest") {
        r.when_down = WhenDown::drop_oldest;
      } else if (value == "fail") {
        r.when_down = WhenDown::fail;
      } else {
        return bad("when_down= must be backpressure, drop_oldest or fail, not " + quoted(value));
      }
    } else if (key == "queue") {
      index = 3;
      if (r.kind != Route::Kind::serve) return bad("queue= is for serve routes, not " + kind);
      if (!is_queue_name(value)) {
        return bad("queue= " + quoted(value) +
                   " is not a queue group name (one word, no white space)");
      }
      r.queue = std::string(value);
    } else {
      return bad("unknown key " + quoted(key) + " (keys: subject, delivery, when_down, queue)");
    }
    if (seen[index]) return bad(std::string(key) + "= is given twice");
    seen[index] = true;
  }
  return r;
}

// The default subject and queue group, where the route did not name them.
void fill_defaults(Route& r, std::string_view ns) {
  const std::string type = std::to_string(r.type);
  const std::string prefix = "ferry." + std::string(ns) + ".";
  if (r.subject.empty()) {
    const bool requests = r.kind == Route::Kind::request || r.kind == Route::Kind::serve;
    r.subject = prefix + (requests ? "req." : "") + type;
  }
  if (r.kind == Route::Kind::serve && r.queue.empty()) r.queue = prefix + type;
}

// "nats://HOST[:PORT]" or "tls://HOST[:PORT]" (HOST a name, an IPv4 address or [IPv6]).
Result<std::string> parse_server(const std::string& text) {
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, "server " + quoted(text) + ": " + std::string(why) +
                                             " (use nats://HOST[:PORT] or tls://HOST[:PORT])");
  };
  std::string_view rest = text;
  if (rest.rfind("nats://", 0) == 0) {
    rest.remove_prefix(7);
  } else if (rest.rfind("tls://", 0) == 0) {
    rest.remove_prefix(6);
  } else {
    return bad("the URL must start with nats:// or tls://");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  for (const char c : rest) {
    if (is_space_or_control(c)) return bad("white space or a control character");
  }
  if (rest.find('@') != std::string_view::npos) {
    return bad("credentials go in user and password, or token, not in the URL");
  }
  if (rest.find('/') != std::string_view::npos) return bad("a NATS URL has no path");
  std::size_t colon = rest.rfind(':');
  std::string_view host = rest;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("an unclosed [");
    if (colon < close) colon = std::string_view::npos;
    host = rest.substr(1, close - 1);
    if (close + 1 != rest.size() && close + 1 != colon) return bad("something after ]");
  } else if (colon != std::string_view::npos) {
    host = rest.substr(0, colon);
  }
  if (host.empty()) return bad("no host");
  if (colon != std::string_view::npos) {
    const auto port = tools::parse_number<std::uint16_t>(rest.substr(colon + 1));
    if (!port || *port == 0) return bad("the port must be a number from 1 to 65535");
  }
  return text;
}

// The namespace: a token of NATS subjects.
Result<void> set_namespace(const ConfigValue& in, std::string* out) {
  auto s = in.string();
  if (!s) return s.error();
  const bool ok = !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
  if (!ok) {
    return in.fail("namespace " + quoted(*s) +
                   " must be letters, digits, - and _ only (it is a token of NATS subjects)");
  }
  *out = std::move(*s);
  return {};
}

// A JetStream stream name: no white space, '.', '*', '>', '/' or '\'.
Result<void> set_stream(const ConfigValue& in, std::string* out) {
  auto s = in.string();
  if (!s) return s.error();
  const bool ok = !s->empty() && std::none_of(s->begin(), s->end(), [](char c) {
    return is_space_or_control(c) || c == '.' || c == '*' || c == '>' || c == '/' || c == '\\';
  });
  if (!ok) {
    return in.fail("stream name " + quoted(*s) +
                   " must be one word without '.', '*', '>', '/' or '\\'");
  }
  *out = std::move(*s);
  return {};
}

const Option kOptions[] = {
    {"session", "--session", "NAME", "the local bus's session (default $FERRY_SESSION, login)",
     [](BridgeConfig& c, const ConfigValue& in) { return tools::set_session(in, &c.session); }},
    {"endpoint", "--endpoint", "NAME", "the local bus's endpoint (bus)",
     [](BridgeConfig& c, const ConfigValue& in) { return tools::set_endpoint(in, &c.endpoint); }},
    {"host", "--host", "NAME", "this bridge's host name in origins and logs (the host name)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.host); }},
    {"namespace", "--namespace", "NS", "subjects ferry.NS.*: letters, digits, - and _ (default)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_namespace(in, &c.ns); }},
    {"servers", "", "", "",
     [](BridgeConfig& c, const ConfigValue& in) {
       c.servers.clear();
       return add_items(in, "strings", &c.servers, parse_server);
     }},
    {"", "--server", "URL", "nats:// or tls://HOST[:PORT], repeat (nats://127.0.0.1:4222)",
     [](BridgeConfig& c, const ConfigValue& in) {
       return add_items(in, "strings", &c.servers, parse_server);
     },
     [](BridgeConfig& c) { c.servers.clear(); }},
    {"user", "--user", "NAME", "authenticate as this user (with password)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.user); }},
    {"password", "--password", "TEXT", "the user's password",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.password); }},
    {"token", "--token", "TEXT", "authenticate with this token",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.token); }},
    {"creds", "--creds", "FILE", "authenticate with this .creds file (JWT and NKEY seed)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.creds); }},
    {"nkey", "--nkey", "KEY", "the user's public NKEY (U...), with nkey_seed",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.nkey); }},
    {"nkey_seed", "--nkey-seed", "FILE", "authenticate with the NKEY seed in this file",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.nkey_seed); }},
    {"tls_ca", "--tls-ca", "FILE",
     "CA for the servers; set, TLS to each (tls:// alone: the system's)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_ca); }},
    {"tls_cert", "--tls-cert", "FILE", "a client certificate, for servers that want one",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_cert); }},
    {"tls_key", "--tls-key", "FILE", "its private key",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.tls_key); }},
    {"connect_timeout_ms", "--connect-timeout-ms", "MS", "connect to a server within (2000)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.connect_timeout); }},
    {"reconnect_wait_ms", "--reconnect-wait-ms", "MS",
     "between reconnect attempts to one server (250)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.reconnect_wait); }},
    {"reconnect_jitter_ms", "--reconnect-jitter-ms", "MS",
     "up to this much added to each wait, at random (100)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 0, &c.reconnect_jitter); }},
    {"reconnect_buffer_bytes", "--reconnect-buffer-bytes", "SIZE",
     "held while NATS is away, 0 for none, up to 1GiB (8MiB)",
     [](BridgeConfig& c, const ConfigValue& in) {
       return tools::set_size(in, 0, kMaxBufferBytes, &c.reconnect_buffer_bytes);
     }},
    {"pending_limit", "--pending-limit", "N",
     "messages a subscription holds for the bridge; more are dropped (65536)",
     [](BridgeConfig& c, const ConfigValue& in) {
       return set_u32(in, 1, 100'000'000, &c.pending_limit);
     }},
    {"route", "--route", "ROUTE", R"(a type to carry, KIND T [key=value...] (repeat; ROUTE below))",
     [](BridgeConfig& c, const ConfigValue& in) {
       return add_items(in, "strings", &c.routes, parse_route_text);
     },
     [](BridgeConfig& c) { c.routes.clear(); }},
    {"request_timeout_ms", "--request-timeout-ms", "MS", "fail a carried request after (5000)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.request_timeout); }},
    {"responder_ttl_ms", "--responder-ttl-ms", "MS",
     "a remote responder's advert lasts this long (3000)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.responder_ttl); }},
    {"stream", "--stream", "NAME", "the JetStream stream (FERRY_NS, upper case, - as _)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_stream(in, &c.stream); }},
    {"stream_replicas", "--stream-replicas", "N", "the stream's replicas, 1..5 (1)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_u32(in, 1, 5, &c.stream_replicas); }},
    {"stream_storage", "--stream-storage", "KIND", "the stream's storage: file or memory (file)",
     [](BridgeConfig& c, const ConfigValue& in) -> Result<void> {
       auto s = tools::one_of(in, {"file", "memory"});
       if (!s) return s.error();
       c.stream_storage = std::move(*s);
       return {};
     }},
    {"ack_wait_ms", "--ack-wait-ms", "MS", "redeliver a JetStream message unacked after (5000)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.ack_wait); }},
    {"max_deliver", "--max-deliver", "N",
     "JetStream deliveries of a message before it is dropped, 1..1000 (5)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_u32(in, 1, 1000, &c.max_deliver); }},
    {"dedupe_window", "--dedupe-window", "N",
     "sequence numbers remembered per origin, 0..10000000 (100000)",
     [](BridgeConfig& c, const ConfigValue& in) {
       return set_u32(in, 0, 10'000'000, &c.dedupe_window);
     }},
    {"duplicate_window_ms", "--duplicate-window-ms", "MS",
     "the stream's Nats-Msg-Id duplicate window (120000)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_ms(in, 1, &c.duplicate_window); }},
    {"state_dir", "--state-dir", "DIR", "keep the dedupe state here (the runtime directory)",
     [](BridgeConfig& c, const ConfigValue& in) { return set_string(in, &c.state_dir); }},
    {"metrics_listen", "--metrics-listen", "ADDR:PORT",
     "serve Prometheus metrics at http://ADDR:PORT/metrics (none)",
     [](BridgeConfig& c, const ConfigValue& in) {
       return tools::set_listen(in, &c.metrics_listen);
     }},
    {"log_level", "--log-level", "LEVEL", "error, warn, info or debug (info)",
     [](BridgeConfig& c, const ConfigValue& in) { return tools::set_log_level(in, &c.log_level); }},
    {"log_format", "--log-format", "FORMAT", "json (one object a line) or text (json)",
     [](BridgeConfig& c, const ConfigValue& in) {
       return tools::set_log_format(in, &c.log_format);
     }},
};

// The file when --config is not given: $FERRY_BRIDGE_CONFIG, else none.
std::string default_config_path() {
  const char* env = std::getenv("FERRY_BRIDGE_CONFIG");
  return env != nullptr ? env : "";
}

// A file the bridge will read (a key, a certificate, credentials): it opens for reading
// and is not a directory. "tls_ca: cannot read '/x/ca.pem': No such file or directory".
Result<void> check_readable(std::string_view key, const std::string& path) {
  if (path.empty()) return {};
  const std::string what = std::string(key) + ": cannot read " + quoted(path);
  // O_NONBLOCK: a FIFO without a writer must not hang the check; nothing is read, so a
  // pipe (/dev/fd/N) keeps its contents for the bridge.
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return Error::from_errno(errno, what);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno(errno, what);
  if (S_ISDIR(st.st_mode)) return Error::from_errno(EISDIR, what);
  return {};
}

// Why routes `first` and `second` cannot go together on one bridge; "" when they can.
std::string conflict(const Route& first, const Route& second) {
  if (first.type != second.type) return {};
  const std::string both = describe(first) + " and " + describe(second);
  const std::string type = std::to_string(first.type);
  if (first.sends_out() && second.sends_out()) {
    return "routes " + both + " both send type " + type +
           " out: each message would be published to NATS twice (one route per type and "
           "direction)";
  }
  if (first.takes_in() && second.takes_in()) {
    return "routes " + both + " both take type " + type +
           " in: each message from NATS would be published twice on the bus (one route per "
           "type and direction)";
  }
  const auto is = [&](Route::Kind kind) { return first.kind == kind || second.kind == kind; };
  if (is(Route::Kind::request) && is(Route::Kind::serve)) {
    return "routes " + both + " on one bridge: it would answer its own requests of type " + type +
           " (request a type where it is asked, serve it where it is answered)";
  }
  if (first.kind == second.kind &&
      (first.kind == Route::Kind::request || first.kind == Route::Kind::serve)) {
    return "routes " + both + ": type " + type + " has two " + std::string(kind_name(first.kind)) +
           " routes (one subject per type)";
  }
  return {};
}

// Routes that cannot go together on one bridge.
Result<void> check_routes(const std::vector<Route>& routes) {
  if (routes.empty()) {
    return Error(
        Errc::invalid_argument,
        R"(no routes: give at least one (route = ["out 7"] in the file, or --route "out 7"))");
  }
  for (std::size_t i = 0; i < routes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (auto why = conflict(routes[j], routes[i]); !why.empty()) {
        return Error(Errc::invalid_argument, std::move(why));
      }
    }
  }
  return {};
}

// What the settings say together: each a clear line. Fills the defaults that depend on
// other settings (routes' subjects, the stream, the host).
Result<void> check(BridgeConfig& c) {
  const auto bad = [](const std::string& why) { return Error(Errc::invalid_argument, why); };
  if (c.host.empty()) {
    std::array<char, 256> host{};
    c.host = ::gethostname(host.data(), host.size() - 1) == 0 ? host.data() : "ferry-bridge";
  }
  for (Route& r : c.routes) fill_defaults(r, c.ns);
  if (auto r = check_routes(c.routes); !r) return r;
  if (c.stream.empty()) {
    c.stream = "FERRY_";
    for (const char ch : c.ns) {  // letters, digits, - and _ (set_namespace())
      if (ch == '-') {
        c.stream += '_';
      } else if (ch >= 'a' && ch <= 'z') {
        c.stream += static_cast<char>(ch - 'a' + 'A');
      } else {
        c.stream += ch;
      }
    }
  }
  if (c.servers.empty()) {
    return bad(R"(no NATS servers: give at least one (servers = ["nats://HOST:4222"]))");
  }
  if (!c.user.empty() && c.password.empty()) return bad("user is set without password");
  if (c.user.empty() && !c.password.empty()) return bad("password is set without user");
  if (!c.token.empty() && !c.user.empty()) {
    return bad("token and user are two ways to authenticate: set one of them");
  }
  if (!c.creds.empty() && !c.nkey_seed.empty()) {
    return bad(
        "creds and nkey_seed are two ways to authenticate: set one of them (a .creds "
        "file holds its own NKEY seed)");
  }
  if (c.nkey.empty() != c.nkey_seed.empty()) {
    return bad("nkey and nkey_seed go together: the public key and the file holding its seed");
  }
  if (!c.tls_cert.empty() && c.tls_key.empty()) return bad("tls_cert is set without tls_key");
  if (c.tls_cert.empty() && !c.tls_key.empty()) return bad("tls_key is set without tls_cert");
  const std::pair<std::string_view, const std::string*> files[] = {
      {"tls_ca", &c.tls_ca}, {"tls_cert", &c.tls_cert},   {"tls_key", &c.tls_key},
      {"creds", &c.creds},   {"nkey_seed", &c.nkey_seed},
  };
  for (const auto& [key, path] : files) {
    if (auto r = check_readable(key, *path); !r) return r;
  }
  return {};
}

}  // namespace

Result<Route> parse_route(std::string_view text, std::string_view ns) {
  auto r = parse_route_text(text);
  if (!r) return r;
  fill_defaults(*r, ns);
  return r;
}

std::string bridge_usage() {
  return "usage: ferry-bridge [OPTION...]\n"
         "\n"
         "Carries ferry messages between this host's bus and NATS: the routes' types go out\n"
         "to NATS subjects, come in from them, or both; requests go out to NATS request/reply\n"
         "or are served from it. Core NATS (at most once) or JetStream (at least once, with\n"
         "duplicates dropped). Defaults in parentheses; see docs/bridge.md.\n"
         "\n"
         "Options (each also a key of the config file, with _ for -):\n" +
         tools::flag_help(tools::config_flags<BridgeConfig>(kOptions), 30) +
         "\n"
         "ROUTE is KIND T [key=value...]: KIND out, in, both, request or serve, T a message\n"
         "type, and the keys (the kinds they apply to; the default):\n"
         "  subject=SUBJECT                          (all; ferry.NS.T, requests ferry.NS.req.T;\n"
         "                                            wildcards * and > on in only)\n"
         "  delivery=core|jetstream                  (out, in, both; core)\n"
         "  when_down=backpressure|drop_oldest|fail  (out, both; backpressure)\n"
         "  queue=GROUP                              (serve; ferry.NS.T)\n"
         "\n"
         "Repeated flags add up and replace the file's list (--server: the file's servers).\n"
         "Config file: --config PATH, else $FERRY_BRIDGE_CONFIG if set; flags override it.\n";
}

Result<BridgeConfig> parse_bridge_args(int argc, char** argv, std::string* output, bool* exit_now) {
  const tools::ConfigCommand command{"ferry-bridge", FERRY_VERSION_STRING, bridge_usage,
                                     default_config_path};
  auto parsed =
      tools::parse_config_command<BridgeConfig>(argc, argv, kOptions, command, output, exit_now);
  if (!parsed || (exit_now != nullptr && *exit_now)) return parsed;
  if (auto r = check(*parsed); !r) return r.error();
  return parsed;
}

}  // namespace ferry::bridge
