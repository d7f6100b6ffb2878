// SPDX-License-Identifier: Apache-2.0
// tools/common/config_file.hpp: a tool's settings from a TOML file and from its flags, both
// through one table of options (ferryd, ferry-gateway). Each option names its key in the
// file, its flag, its help line, and one function that applies a value, whichever way the
// value came: so a key and its flag cannot drift apart, and every error names where the
// value came from ("ferryd.toml:3: batch: ..." or "--batch: ..."). The set_* helpers below
// are those functions' common parts (ferryd, ferry-gateway, ferry-bridge).
// Thread-safety: plain functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/command_line.hpp"
#include "ferry/result.hpp"

namespace ferry::tools {

// One value to apply: a TOML node from the file, or the text of a flag.
class ConfigValue {
 public:
  // A flag's value; `where` is the flag ("--batch").
  ConfigValue(std::string_view text, std::string where);
  // A node of a parsed TOML file (a toml::node); `where` is "path:line: key".
  ConfigValue(const void* toml_node, std::string where);

  const std::string& where() const noexcept { return where_; }
  // invalid_argument: "<where>: <problem>".
  Error fail(std::string_view problem) const;

  Result<std::string> string() const;
  Result<bool> boolean() const;  // a TOML boolean; a flag's "true" or "false"
  // A whole number in [min, max].
  Result<std::uint64_t> integer(std::uint64_t min, std::uint64_t max) const;
  // A byte count: an integer, or a size string ("64KiB"; parse_size()).
  Result<std::uint64_t> size() const;
  // A TOML array of strings (and non-negative integers, as text), each with its own
  // `where`; a flag: its one value. `what` names an element in errors ("user").
  Result<std::vector<std::pair<std::string, std::string>>> items(std::string_view what) const;

 private:
  Error wrong_type(std::string_view expected) const;
  const void* node_ = nullptr;
  std::string text_;
  std::string where_;
};

template <class Config>
struct ConfigOption {
  std::string_view key;   // in the file; empty for flags only
  std::string_view flag;  // empty for file keys only
  std::string_view arg;   // the value's name in --help; empty for switches
  std::string_view help;
  Result<void> (*apply)(Config&, const ConfigValue&);
  // Lists: the flag repeats, and the first time it is given it empties the file's list.
  void (*clear)(Config&) = nullptr;
};

// Reads the TOML file at `path` and calls `apply(key, value)` for each top-level key, in
// the order of the file (so that the first mistake is the one reported); `at` is
// "path:line" of the key. The first error ends it; a file that does not parse is
// invalid_argument "path:line:column: what".
Result<void> read_config_file(
    const std::string& path,
    const std::function<Result<void>(std::string_view key, std::string_view at,
                                     const ConfigValue& value)>& apply);

// The file's keys through `options`; an unknown key is an error listing the known ones.
template <class Config>
Result<void> apply_config_file(Config& config, const std::string& path,
                               std::span<const ConfigOption<Config>> options) {
  return read_config_file(
      path,
      [&](std::string_view key, std::string_view at, const ConfigValue& value) -> Result<void> {
        std::string known;
        for (const auto& o : options) {
          if (o.key.empty()) continue;
          if (o.key == key) return o.apply(config, value);
          known += (known.empty() ? "" : ", ") + std::string(o.key);
        }
        return Error(Errc::invalid_argument, std::string(at) + ": unknown key '" +
                                                 std::string(key) + "' (known: " + known + ")");
      });
}

// The flags given, in command-line order, through `options` (flags not in the table, such
// as --config, are skipped: the caller handles them). A list's flags replace the file's list.
template <class Config>
Result<void> apply_config_flags(Config& config, const Args& given,
                                std::span<const ConfigOption<Config>> options) {
  for (const auto& o : options) {
    if (o.clear != nullptr && !o.flag.empty() && given.has(o.flag)) o.clear(config);
  }
  for (const auto& [flag, text] : given.given()) {
    for (const auto& o : options) {
      if (o.flag.empty() || o.flag != flag) continue;
      if (auto r = o.apply(config, ConfigValue(text, flag)); !r) return r;
      break;
    }
  }
  return {};
}

// Every flag of a tool with a config file, in --help's order: --config PATH, the options'
// flags, --help and --version.
template <class Config>
std::vector<Flag> config_flags(std::span<const ConfigOption<Config>> options) {
  std::vector<Flag> flags{{"--config", "PATH", "read this TOML file (it must exist)"}};
  for (const auto& o : options) {
    if (!o.flag.empty()) flags.push_back({o.flag, o.arg, o.help});
  }
  flags.push_back({"--help", "", "print this help and exit"});
  flags.push_back({"--version", "", "print the version and exit"});
  return flags;
}

// A tool's whole command line: `--help` and `--version` (their text in *output, and
// *exit_now set), else the file (--config PATH, or `default_path` when not given; "" for
// none) and then the flags over it. Config has a `config_path` member, set to the file read.
struct ConfigCommand {
  std::string_view program;  // "ferryd"
  std::string_view version;
  std::string (*usage)();
  std::string (*default_path)();
};
template <class Config>
Result<Config> parse_config_command(int argc, char** argv,
                                    std::span<const ConfigOption<Config>> options,
                                    const ConfigCommand& command, std::string* output,
                                    bool* exit_now) {
  Config config;
  if (exit_now != nullptr) *exit_now = false;
  const std::string see = std::string(command.program) + " --help";
  const auto given = parse_flags(argc, argv, config_flags(options), see);
  if (!given) return given.error();
  if (given->has("--help") || given->has("--version")) {
    if (output != nullptr) {
      *output = given->has("--help")
                    ? command.usage()
                    : std::string(command.program) + " " + std::string(command.version) + "\n";
    }
    if (exit_now != nullptr) *exit_now = true;
    return Config{};
  }
  const std::string* path = given->get("--config");
  if (path != nullptr && path->empty()) {
    return Error(Errc::invalid_argument, "--config needs a file name (see " + see + ")");
  }
  config.config_path = path != nullptr ? *path : command.default_path();
  if (!config.config_path.empty()) {
    if (auto r = apply_config_file(config, config.config_path, options); !r) return r.error();
  }
  if (auto r = apply_config_flags(config, *given, options); !r) return r.error();
  return config;
}

// `in`'s string if it is one of `choices`, else "expected a, b or c, got 'x'".
Result<std::string> one_of(const ConfigValue& in, std::initializer_list<std::string_view> choices);

// An application's message type, 0..kReservedTypes - 1 (ferry/message.hpp): else
// invalid_argument "<what> 'x' is not a message type 0..65279".
Result<std::uint16_t> parse_message_type(std::string_view text, std::string_view what);

// "ADDRESS:PORT" with a numeric IPv4 address or a bracketed IPv6 one ("127.0.0.1:9443",
// "[::1]:0"): else invalid_argument "listen address 'x': <why> (use ADDRESS:PORT, ...)".
Result<void> check_listen(std::string_view text);

// The set_* helpers: `in` checked and stored in *out; an error is "<where>: <problem>".
Result<void> set_string(const ConfigValue& in, std::string* out);
// A whole number of milliseconds in [min, max]; the first form up to a day.
Result<void> set_ms(const ConfigValue& in, std::uint64_t min, std::chrono::milliseconds* out);
Result<void> set_ms(const ConfigValue& in, std::uint64_t min, std::uint64_t max,
                    std::chrono::milliseconds* out);
// A whole number in [min, max] (max at most 2^32 - 1).
Result<void> set_u32(const ConfigValue& in, std::uint64_t min, std::uint64_t max,
                     std::uint32_t* out);
// A byte count (ConfigValue::size()) in [min, max] (max at most 2^32 - 1): else "expected
// 4KiB to 1GiB".
Result<void> set_size(const ConfigValue& in, std::uint64_t min, std::uint64_t max,
                      std::uint32_t* out);
// A session or an endpoint name as ferry takes it (ferry/session.hpp's checks).
Result<void> set_session(const ConfigValue& in, std::string* out);
Result<void> set_endpoint(const ConfigValue& in, std::string* out);
// "" (none) or an address check_listen() takes.
Result<void> set_listen(const ConfigValue& in, std::string* out);
// The daemons' log_level (error, warn, info or debug) and log_format (json or text).
Result<void> set_log_level(const ConfigValue& in, std::string* out);
Result<void> set_log_format(const ConfigValue& in, std::string* out);

// Every element of an array (or a flag's value) through `parse` (text -> Result<T>),
// appended to `out`; an element's error is "<where>: <its message>".
template <class T, class Parse>
Result<void> add_items(const ConfigValue& in, std::string_view what, std::vector<T>* out,
                       Parse parse) {
  auto items = in.items(what);
  if (!items) return items.error();
  for (const auto& [text, where] : *items) {
    auto v = parse(text);
    if (!v) return Error(Errc::invalid_argument, where + ": " + v.error().message());
    out->push_back(std::move(*v));
  }
  return {};
}

// "4096", "64KiB", "1 MiB", "2G": a byte count with an optional binary suffix (B, K/KiB,
// M/MiB, G/GiB). invalid_argument, naming the text, for anything else or for more than
// 2^63 - 1 bytes.
Result<std::uint64_t> parse_size(std::string_view text);
// 1048576 -> "1MiB"; sizes that are not a whole number of KiB stay in bytes.
std::string format_size(std::uint64_t n);

}  // namespace ferry::tools
