// SPDX-License-Identifier: Apache-2.0
// ferryd's configuration: the TOML file, then the flags. See config.hpp and docs/ferryd.md.
#include "ferryd/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/command_line.hpp"
#include "common/config_file.hpp"
#include "common/file.hpp"
#include "common/metrics_listen.hpp"
#include "common/number.hpp"
#include "common/quoted.hpp"
#include "ferry/session.hpp"
#include "ferry/version.hpp"
#include "ferry/wait.hpp"

namespace ferry::ferryd {

namespace {

using ferry::Errc;
using ferry::Error;
using ferry::Result;

constexpr std::uint64_t kMinRing = 4096;
constexpr std::uint64_t kMaxRing = std::uint64_t{1} << 30;
constexpr std::uint64_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint64_t kMaxOutstanding = 1u << 20;
constexpr std::uint64_t kMaxRequestTimeoutMs = 86400000;  // a day

using ferry::tools::quoted;

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

using Input = tools::ConfigValue;
using tools::format_size;

// getpwnam_r / getgrnam_r with a growing buffer. Returns the id, or nullopt when the name
// is unknown; an Error when the lookup itself failed.
template <class Entry, class Id, class Lookup>
Result<std::optional<Id>> lookup_id(const std::string& name, Lookup lookup, Id Entry::*field) {
  std::vector<char> buffer(16384);
  for (;;) {
    Entry entry{};
    Entry* found = nullptr;
    const int err = lookup(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (err == ERANGE && buffer.size() < (std::size_t{1} << 24)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (err != 0 && err != ENOENT && err != ESRCH && err != EBADF && err != EPERM) {
      return Error::from_errno(err, "looking up " + quoted(name));
    }
    if (found == nullptr) return std::optional<Id>();
    return std::optional<Id>(entry.*field);
  }
}

// A user (or group) name or a numeric id.
template <class Id>
Result<Id> resolve_id(const std::string& text, const std::string& where, bool user) {
  const char* what = user ? "user" : "group";
  if (is_digits(text)) {
    const auto n = tools::parse_number<std::uint64_t>(text);
    // (uid_t)-1 and (gid_t)-1 mean "no id" to the kernel.
    if (!n || *n >= kMaxU32) {
      return Error(Errc::invalid_argument,
                   where + ": " + std::string(what) + " id " + quoted(text) + " is out of range");
    }
    return static_cast<Id>(*n);
  }
  Result<std::optional<Id>> found = user
                                        ? lookup_id<passwd, Id>(text, ::getpwnam_r, &passwd::pw_uid)
                                        : lookup_id<group, Id>(text, ::getgrnam_r, &group::gr_gid);
  if (!found) return Error(found.error().code(), where + ": " + found.error().message());
  if (!*found) {
    return Error(Errc::invalid_argument,
                 where + ": unknown " + std::string(what) + " " + quoted(text) + " (not in the " +
                     (user ? "user" : "group") + " database; give a name or a number)");
  }
  return **found;
}

Result<void> set_ring(const Input& in, std::uint32_t* out) {
  auto n = in.size();
  if (!n) return n.error();
  if (*n < kMinRing || *n > kMaxRing || (*n & (*n - 1)) != 0) {
    return in.fail("expected a power of two from 4KiB to 1GiB, got " + std::to_string(*n) +
                   (*n % 1024 == 0 ? " (" + format_size(*n) + ")" : std::string()));
  }
  *out = static_cast<std::uint32_t>(*n);
  return {};
}

using tools::set_ms;
using tools::set_u32;

// One setting: its TOML key and flag, how --help shows it, how a value is applied.
using Option = tools::ConfigOption<FerrydConfig>;

Result<void> apply_users(FerrydConfig& c, const Input& in) {
  auto items = in.items("user names or ids");
  if (!items) return items.error();
  for (const auto& [text, where] : *items) {
    auto id = resolve_id<uid_t>(text, where, true);
    if (!id) return id.error();
    c.server.allow_uids.push_back(*id);
  }
  return {};
}

Result<void> apply_groups(FerrydConfig& c, const Input& in) {
  auto items = in.items("group names or ids");
  if (!items) return items.error();
  for (const auto& [text, where] : *items) {
    auto id = resolve_id<gid_t>(text, where, false);
    if (!id) return id.error();
    c.server.allow_gids.push_back(*id);
  }
  return {};
}

const Option kOptions[] = {
    {"endpoint", "--endpoint", "NAME", "serve <session dir>/NAME.sock (bus)",
     [](FerrydConfig& c, const Input& in) { return tools::set_endpoint(in, &c.server.endpoint); }},
    {"socket_path", "--socket", "PATH",
     "serve this socket instead, for other users (with allow_users/allow_groups)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (s->empty() || s->front() != '/') return in.fail(quoted(*s) + " is not an absolute path");
       c.server.socket_path = std::move(*s);
       return {};
     }},
    {"session", "--session", "NAME", "session (default $FERRY_SESSION, login session)",
     [](FerrydConfig& c, const Input& in) { return tools::set_session(in, &c.server.session); }},
    {"max_connections", "--max-connections", "N", "most clients at once, 1..65536 (4096)",
     [](FerrydConfig& c, const Input& in) {
       return set_u32(in, 1, 65536, &c.server.max_connections);
     }},
    {"ring_capacity", "--ring-capacity", "SIZE", "ring per direction by default (1MiB)",
     [](FerrydConfig& c, const Input& in) { return set_ring(in, &c.server.ring_capacity); }},
    {"max_ring_capacity", "--max-ring-capacity", "SIZE",
     "largest ring a client may ask for (64MiB)",
     [](FerrydConfig& c, const Input& in) { return set_ring(in, &c.server.max_ring_capacity); }},
    {"crc", "", "", "",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto b = in.boolean();
       if (!b) return b.error();
       c.server.crc = *b;
       return {};
     }},
    {"", "--crc", "", "frames carry a checked CRC32C (the default)",
     [](FerrydConfig& c, const Input&) -> Result<void> {
       c.server.crc = true;
       return {};
     }},
    {"", "--no-crc", "", "no CRC32C on frames",
     [](FerrydConfig& c, const Input&) -> Result<void> {
       c.server.crc = false;
       return {};
     }},
    {"allow_users", "--allow-user", "USER", "also let this user (name or uid) connect", apply_users,
     [](FerrydConfig& c) { c.server.allow_uids.clear(); }},
    {"allow_groups", "--allow-group", "GROUP", "also let its members (name or gid) connect",
     apply_groups, [](FerrydConfig& c) { c.server.allow_gids.clear(); }},
    {"wait", "--wait", "MODE", "how to idle: spin, block or hybrid (hybrid)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       auto w = ferry::parse_wait_strategy(*s);
       if (!w) return in.fail("expected spin, block or hybrid, got " + quoted(*s));
       c.server.wait.strategy = *w;
       return {};
     }},
    {"spin_us", "--spin-us", "US", "hybrid: spin this long before sleeping (50)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto n = in.integer(0, 1000000);
       if (!n) return n.error();
       c.server.wait.spin_for = std::chrono::microseconds(*n);
       return {};
     }},
    {"yield_every", "--yield-every", "N", "spin, hybrid: polls between CPU yields (1024)",
     [](FerrydConfig& c, const Input& in) {
       return set_u32(in, 1, kMaxU32, &c.server.wait.yield_every);
     }},
    {"batch", "--batch", "N", "most messages from one client per turn (64)",
     [](FerrydConfig& c, const Input& in) { return set_u32(in, 1, kMaxU32, &c.server.batch); }},
    {"compress_threshold", "--compress-threshold", "SIZE",
     "compress payloads this large or more (1KiB)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto n = in.size();
       if (!n) return n.error();
       if (*n > kMaxU32)
         return in.fail("expected at most 4294967295 bytes, got " + std::to_string(*n));
       c.server.compress_threshold = static_cast<std::uint32_t>(*n);
       return {};
     }},
    {"handshake_timeout_ms", "--handshake-timeout-ms", "MS",
     "drop a client stuck in its handshake (2000)",
     [](FerrydConfig& c, const Input& in) {
       return set_ms(in, 1, 3600000, &c.server.handshake_timeout);
     }},
    {"slow_subscriber", "--slow-subscriber", "MODE",
     "drop or disconnect a subscriber whose ring stays full (drop)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (*s == "drop") {
         c.bus.slow_subscriber = ferryd::SlowSubscriber::drop;
       } else if (*s == "disconnect") {
         c.bus.slow_subscriber = ferryd::SlowSubscriber::disconnect;
       } else {
         return in.fail("expected drop or disconnect, got " + quoted(*s));
       }
       return {};
     }},
    {"slow_subscriber_timeout_ms", "--slow-subscriber-timeout-ms", "MS",
     "longest a full subscriber holds publishers back, 0..3600000 (1000)",
     [](FerrydConfig& c, const Input& in) {
       return set_ms(in, 0, 3600000, &c.bus.slow_subscriber_timeout);
     }},
    {"max_outstanding_requests", "--max-outstanding-requests", "N",
     "unanswered requests a serving client may hold, 1..1048576 (4096)",
     [](FerrydConfig& c, const Input& in) {
       return set_u32(in, 1, kMaxOutstanding, &c.bus.max_outstanding_requests);
     }},
    {"request_timeout_ms", "--request-timeout-ms", "MS",
     "fail a request unanswered this long, 1..86400000 (30000)",
     [](FerrydConfig& c, const Input& in) {
       return set_ms(in, 1, kMaxRequestTimeoutMs, &c.bus.request_timeout);
     }},
    {"log_level", "--log-level", "LEVEL", "error, warn, info or debug (info)",
     [](FerrydConfig& c, const Input& in) { return tools::set_log_level(in, &c.log_level); }},
    {"log_format", "--log-format", "FORMAT", "json (one object a line) or text (json)",
     [](FerrydConfig& c, const Input& in) { return tools::set_log_format(in, &c.log_format); }},
    {"metrics_listen", "--metrics-listen", "ADDR",
     "serve Prometheus metrics at http://ADDR/metrics; PORT alone is 127.0.0.1:PORT (off)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (s->empty()) {  // "" in the file: off
         c.metrics_listen.clear();
         return {};
       }
       auto listen = tools::normalize_metrics_listen(*s);
       if (!listen) return in.fail(listen.error().message());
       c.metrics_listen = std::move(*listen);
       return {};
     }},
    {"", "--no-metrics", "", "no metrics, whatever the file says",
     [](FerrydConfig& c, const Input&) -> Result<void> {
       c.metrics_listen.clear();
       c.server.handler_histogram = false;
       return {};
     }},
    {"metrics_histogram", "", "", "",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto b = in.boolean();
       if (!b) return b.error();
       c.server.handler_histogram = *b;
       return {};
     }},
    {"", "--background", "",
     "return once ready, ferryd carrying on in the background (for shells and scripts)",
     [](FerrydConfig& c, const Input&) -> Result<void> {
       c.background = true;
       return {};
     }},
    {"", "--metrics-histogram", "",
     "time one handler call in 16 for ferry_handler_duration_seconds (off)",
     [](FerrydConfig& c, const Input&) -> Result<void> {
       c.server.handler_histogram = true;
       return {};
     }},
};

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

// The file to read when --config did not name one: "" for none.
std::string default_config_path() {
  if (auto path = env("FERRY_CONFIG")) return *path;
  std::optional<std::string> dir = env("XDG_CONFIG_HOME");
  if (dir && dir->front() != '/') dir.reset();  // the XDG spec says to ignore relative paths
  if (!dir) {
    if (auto home = env("HOME")) dir = *home + "/.config";
  }
  if (dir) {
    std::string path = *dir + "/ferry/ferryd.toml";
    if (exists(path)) return path;
  }
  std::string system = "/etc/ferry/ferryd.toml";
  if (exists(system)) return system;
  return {};
}

}  // namespace

std::string ferryd_usage() {
  std::string out =
      "usage: ferryd [OPTION...]\n"
      "\n"
      "ferryd, the ferry local message bus, serves one endpoint in the foreground.\n"
      "Clients publish and subscribe to message types, serve them and send requests\n"
      "through it (see `ferry --help`). Defaults in parentheses.\n"
      "\n"
      "Options (each also a key of the config file, with _ for -; see docs/ferryd.md):\n";
  out += tools::flag_help(tools::config_flags<FerrydConfig>(kOptions), 30);
  out +=
      "\n"
      "SIZE is a byte count, optionally with B, KiB, MiB or GiB (\"1MiB\", \"65536\");\n"
      "ring sizes are powers of two, 4KiB to 1GiB. `--flag VALUE` and `--flag=VALUE`\n"
      "both work. --allow-user and --allow-group repeat; as flags, they replace the\n"
      "file's lists.\n"
      "\n"
      "Config file (flags override it): --config PATH, else $FERRY_CONFIG, else\n"
      "$XDG_CONFIG_HOME/ferry/ferryd.toml (or ~/.config/ferry/ferryd.toml) if it\n"
      "exists, else /etc/ferry/ferryd.toml if it exists, else the defaults.\n";
  return out;
}

Result<FerrydConfig> parse_ferryd_args(int argc, char** argv, std::string* output, bool* exit_now) {
  const tools::ConfigCommand command{"ferryd", FERRY_VERSION_STRING, ferryd_usage,
                                     default_config_path};
  auto parsed =
      tools::parse_config_command<FerrydConfig>(argc, argv, kOptions, command, output, exit_now);
  if (!parsed || (exit_now != nullptr && *exit_now)) return parsed;
  FerrydConfig& config = *parsed;
  const auto& s = config.server;
  if (s.ring_capacity > s.max_ring_capacity) {
    return Error(Errc::invalid_argument, "ring_capacity " + format_size(s.ring_capacity) +
                                             " is larger than max_ring_capacity " +
                                             format_size(s.max_ring_capacity) +
                                             ": raise max_ring_capacity or lower ring_capacity");
  }
  // The session ($FERRY_SESSION when not set here) is checked now, as the rest of the
  // configuration is: a bad one is a usage error (exit 2, which the unit does not restart).
  if (auto session = ferry::resolve_session(s.session);
      !session && session.code() == Errc::invalid_argument) {
    return session.error();
  }
  return parsed;
}

}  // namespace ferry::ferryd
