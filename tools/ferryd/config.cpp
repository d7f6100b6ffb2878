// ferryd's configuration: the TOML file, then the flags. See config.hpp and docs/ferryd.md.
#include "ferryd/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "common/command_line.hpp"
#include "common/file.hpp"
#include "common/number.hpp"
#include "common/quoted.hpp"
#include "ferry/session.hpp"
#include "ferry/wait.hpp"

#ifndef FERRY_VERSION
#define FERRY_VERSION "unknown"
#endif

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

// 1048576 -> "1MiB"; sizes that are not a whole number of KiB stay in bytes.
std::string format_size(std::uint64_t n) {
  constexpr std::string_view kUnits[] = {"GiB", "MiB", "KiB"};
  constexpr std::uint64_t kScales[] = {std::uint64_t{1} << 30, std::uint64_t{1} << 20, 1024};
  for (std::size_t i = 0; i < 3; ++i) {
    if (n != 0 && n % kScales[i] == 0)
      return std::to_string(n / kScales[i]) + std::string(kUnits[i]);
  }
  return std::to_string(n);
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

// One value to apply: from the file (a TOML node) or from a flag (its text).
struct Input {
  const toml::node* node = nullptr;
  std::string_view text;
  std::string where;  // "path:line: key" or "--flag"

  Error fail(std::string_view problem) const {
    return Error(Errc::invalid_argument, where + ": " + std::string(problem));
  }
  Error wrong_type(std::string_view expected) const {
    return fail("expected " + std::string(expected) + ", got " +
                std::string(type_name(node->type())));
  }

  Result<std::string> string() const {
    if (node == nullptr) return std::string(text);
    if (const auto* s = node->as_string()) return s->get();
    return wrong_type("a string");
  }

  Result<bool> boolean() const {
    if (node != nullptr) {
      if (const auto* b = node->as_boolean()) return b->get();
      return wrong_type("a boolean (true or false)");
    }
    if (text == "true") return true;
    if (text == "false") return false;
    return fail("expected true or false, got " + quoted(text));
  }

  // A whole number in [min, max].
  Result<std::uint64_t> integer(std::uint64_t min, std::uint64_t max) const {
    const std::string range = "an integer " + std::to_string(min) + ".." + std::to_string(max);
    std::uint64_t n = 0;
    if (node != nullptr) {
      const auto* i = node->as_integer();
      if (i == nullptr) return wrong_type(range);
      if (i->get() < 0) return fail("expected " + range + ", got " + std::to_string(i->get()));
      n = static_cast<std::uint64_t>(i->get());
    } else {
      const auto parsed = tools::parse_number<std::uint64_t>(text);
      if (!parsed) return fail("expected " + range + ", got " + quoted(text));
      n = *parsed;
    }
    if (n < min || n > max) return fail("expected " + range + ", got " + std::to_string(n));
    return n;
  }

  // A byte count: an integer, or a size string ("64KiB").
  Result<std::uint64_t> size() const {
    constexpr std::string_view kExpected = "a byte count (an integer or a string like \"64KiB\")";
    if (node != nullptr) {
      if (const auto* i = node->as_integer()) {
        if (i->get() < 0) return fail("expected a byte count, got " + std::to_string(i->get()));
        return static_cast<std::uint64_t>(i->get());
      }
      const auto* s = node->as_string();
      if (s == nullptr) return wrong_type(kExpected);
      auto n = parse_size(s->get());
      if (!n) return fail(n.error().message());
      return *n;
    }
    auto n = parse_size(text);
    if (!n) return fail(n.error().message());
    return *n;
  }

  // Names or numeric ids: a TOML array of strings and integers, or one flag value. Each
  // comes with its own `where` (array elements may sit on their own lines).
  Result<std::vector<std::pair<std::string, std::string>>> names(std::string_view what) const {
    std::vector<std::pair<std::string, std::string>> out;
    if (node == nullptr) {
      out.emplace_back(std::string(text), where);
      return out;
    }
    const auto* array = node->as_array();
    const std::string expected = "an array of " + std::string(what) + " names or ids";
    if (array == nullptr) return wrong_type(expected);
    for (const auto& element : *array) {
      if (const auto* s = element.as_string()) {
        out.emplace_back(s->get(), where);
      } else if (const auto* i = element.as_integer(); i != nullptr && i->get() >= 0) {
        out.emplace_back(std::to_string(i->get()), where);
      } else {
        return fail("expected " + expected + ", found an element that is " +
                    (element.is_integer() ? std::string("negative")
                                          : std::string(type_name(element.type()))));
      }
    }
    return out;
  }
};

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

// A whole number in [min, max] into a 32-bit field.
Result<void> set_u32(const Input& in, std::uint64_t min, std::uint64_t max, std::uint32_t* out) {
  auto n = in.integer(min, max);
  if (!n) return n.error();
  *out = static_cast<std::uint32_t>(*n);
  return {};
}

// Milliseconds in [min, max].
Result<void> set_ms(const Input& in, std::uint64_t min, std::uint64_t max,
                    std::chrono::milliseconds* out) {
  auto n = in.integer(min, max);
  if (!n) return n.error();
  *out = std::chrono::milliseconds(*n);
  return {};
}

// One setting: its TOML key and flag, how --help shows it, how a value is applied.
struct Option {
  std::string_view key;  // in the file; empty for flags only
  std::string_view flag;
  std::string_view arg;  // the value's name in --help; empty for switches
  std::string_view help;
  Result<void> (*apply)(FerrydConfig&, const Input&);
};

Result<void> apply_users(FerrydConfig& c, const Input& in) {
  auto items = in.names("user");
  if (!items) return items.error();
  for (const auto& [text, where] : *items) {
    auto id = resolve_id<uid_t>(text, where, true);
    if (!id) return id.error();
    c.server.allow_uids.push_back(*id);
  }
  return {};
}

Result<void> apply_groups(FerrydConfig& c, const Input& in) {
  auto items = in.names("group");
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
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (auto ok = ferry::check_endpoint_name(*s); !ok) return in.fail(ok.error().message());
       c.server.endpoint = std::move(*s);
       return {};
     }},
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
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (auto ok = ferry::check_session_name(*s); !ok) return in.fail(ok.error().message());
       c.server.session = std::move(*s);
       return {};
     }},
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
    {"allow_users", "--allow-user", "USER", "also let this user (name or uid) connect",
     apply_users},
    {"allow_groups", "--allow-group", "GROUP", "also let its members (name or gid) connect",
     apply_groups},
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
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (*s != "error" && *s != "warn" && *s != "info" && *s != "debug") {
         return in.fail("expected error, warn, info or debug, got " + quoted(*s));
       }
       c.log_level = std::move(*s);
       return {};
     }},
    {"log_format", "--log-format", "FORMAT", "json (one object a line) or text (json)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (*s != "json" && *s != "text") return in.fail("expected json or text, got " + quoted(*s));
       c.log_format = std::move(*s);
       return {};
     }},
    {"metrics_listen", "--metrics-listen", "ADDR",
     "serve Prometheus metrics at http://ADDR/metrics; PORT alone is 127.0.0.1:PORT (off)",
     [](FerrydConfig& c, const Input& in) -> Result<void> {
       auto s = in.string();
       if (!s) return s.error();
       if (s->empty()) {  // "" in the file: off
         c.metrics_listen.clear();
         return {};
       }
       auto listen = normalize_metrics_listen(*s);
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
    {"", "--metrics-histogram", "",
     "time one handler call in 16 for ferry_handler_duration_seconds (off)",
     [](FerrydConfig& c, const Input&) -> Result<void> {
       c.server.handler_histogram = true;
       return {};
     }},
};

const Option* find_key(std::string_view key) {
  for (const auto& o : kOptions) {
    if (!o.key.empty() && o.key == key) return &o;
  }
  return nullptr;
}

const Option* find_flag(std::string_view flag) {
  for (const auto& o : kOptions) {
    if (!o.flag.empty() && o.flag == flag) return &o;
  }
  return nullptr;
}

std::string known_keys() {
  std::string out;
  for (const auto& o : kOptions) {
    if (o.key.empty()) continue;
    if (!out.empty()) out += ", ";
    out += o.key;
  }
  return out;
}

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

Result<void> apply_file(FerrydConfig& config, const std::string& path) {
  auto text = ferry::tools::read_file(path, "config file");
  if (!text) return text.error();
  toml::table table;
  try {
    table = toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return Error(Errc::invalid_argument, path + ":" + std::to_string(at.line) + ":" +
                                             std::to_string(at.column) + ": " +
                                             std::string(e.description()));
  }
  // In the order of the file, so that the first mistake is the one reported.
  struct Entry {
    std::uint32_t line;
    std::string key;
    const toml::node* node;
  };
  std::vector<Entry> entries;
  for (const auto& [key, node] : table) {
    entries.push_back({key.source().begin.line, std::string(key.str()), &node});
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.line < b.line; });
  for (const auto& e : entries) {
    const std::string at = path + ":" + std::to_string(e.line);
    const Option* option = find_key(e.key);
    if (option == nullptr) {
      return Error(Errc::invalid_argument,
                   at + ": unknown key " + quoted(e.key) + " (known: " + known_keys() + ")");
    }
    Input in;
    in.node = e.node;
    in.where = path + ":" + std::to_string(e.node->source().begin.line) + ": " + e.key;
    if (auto r = option->apply(config, in); !r) return r;
  }
  return {};
}

// Every flag: --config, the options' flags, --help and --version, in --help's order.
std::vector<tools::Flag> all_flags() {
  std::vector<tools::Flag> flags{{"--config", "PATH", "read this TOML file (it must exist)"}};
  for (const auto& o : kOptions) {
    if (!o.flag.empty()) flags.push_back({o.flag, o.arg, o.help});
  }
  flags.push_back({"--help", "", "print this help and exit"});
  flags.push_back({"--version", "", "print the version and exit"});
  return flags;
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view suffix = text.substr(digits);
  while (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, "bad size " + quoted(text) + ": " + std::string(why));
  };
  const auto n = tools::parse_number<std::uint64_t>(text.substr(0, digits));
  if (!n) {
    return bad(digits == 0 ? "expected a number of bytes, optionally with B, KiB, MiB or GiB"
                           : "too large");
  }
  unsigned shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "K" || suffix == "KiB" || suffix == "k") {
    shift = 10;
  } else if (suffix == "M" || suffix == "MiB") {
    shift = 20;
  } else if (suffix == "G" || suffix == "GiB") {
    shift = 30;
  } else {
    return bad("unknown unit " + quoted(suffix) + " (use B, KiB, MiB or GiB)");
  }
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (*n > (kMax >> shift)) return bad("too large");
  return *n << shift;
}

std::string ferryd_usage() {
  std::string out =
      "usage: ferryd [OPTION...]\n"
      "\n"
      "ferryd, the ferry local message bus, serves one endpoint in the foreground.\n"
      "Clients publish and subscribe to message types, serve them and send requests\n"
      "through it (see `ferry --help`). Defaults in parentheses.\n"
      "\n"
      "Options (each also a key of the config file, with _ for -; see docs/ferryd.md):\n";
  out += tools::flag_help(all_flags(), 30);
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
  FerrydConfig config;
  if (exit_now != nullptr) *exit_now = false;
  const auto given = tools::parse_flags(argc, argv, all_flags(), "ferryd --help");
  if (!given) return given.error();
  const auto output_only = [&](std::string text) {
    if (output != nullptr) *output = std::move(text);
    if (exit_now != nullptr) *exit_now = true;
    return FerrydConfig{};
  };
  if (given->has("--help")) return output_only(ferryd_usage());
  if (given->has("--version")) return output_only(std::string("ferryd ") + FERRY_VERSION + "\n");

  // The file first, so that the flags override it.
  const std::string* config_flag = given->get("--config");
  if (config_flag != nullptr && config_flag->empty()) {
    return Error(Errc::invalid_argument, "--config needs a file name (see ferryd --help)");
  }
  config.config_path = config_flag ? *config_flag : default_config_path();
  if (!config.config_path.empty()) {
    if (auto r = apply_file(config, config.config_path); !r) return r.error();
  }

  // The allow lists add up over repeated flags, which replace the file's list.
  if (given->has("--allow-user")) config.server.allow_uids.clear();
  if (given->has("--allow-group")) config.server.allow_gids.clear();
  for (const auto& [flag, value] : given->given()) {
    const Option* option = find_flag(flag);
    if (option == nullptr) continue;  // --config, read above
    Input in;
    in.text = value;
    in.where = flag;
    if (auto r = option->apply(config, in); !r) return r.error();
  }

  const auto& s = config.server;
  if (s.ring_capacity > s.max_ring_capacity) {
    return Error(Errc::invalid_argument, "ring_capacity " + format_size(s.ring_capacity) +
                                             " is larger than max_ring_capacity " +
                                             format_size(s.max_ring_capacity) +
                                             ": raise max_ring_capacity or lower ring_capacity");
  }
  return config;
}

Result<std::string> normalize_metrics_listen(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument,
                 "metrics address '" + std::string(text) + "': " + why +
                     " (use PORT or IPV4-ADDRESS:PORT, e.g. 127.0.0.1:9464)");
  };
  std::string host = "127.0.0.1";
  std::string_view port = text;
  if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (host.empty()) host = "127.0.0.1";
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (!host.empty() && host.front() == '[') {
    // civetweb, under prometheus-cpp's exposer, is built without IPv6 in Debian.
    return bad("IPv6 addresses are not supported (Debian's civetweb has no IPv6)");
  }
  std::array<unsigned char, 4> addr{};
  if (::inet_pton(AF_INET, host.c_str(), addr.data()) != 1) {
    return bad("the address must be a numeric IPv4 address");
  }
  return host + ":" + std::to_string(value);
}

}  // namespace ferry::ferryd
