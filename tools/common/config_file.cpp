// SPDX-License-Identifier: Apache-2.0
// tools/common/config_file.cpp: settings from TOML files and flags (config_file.hpp).
#include "common/config_file.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <limits>

#include <toml++/toml.h>

#include "common/file.hpp"
#include "common/number.hpp"
#include "common/quoted.hpp"
#include "ferry/message.hpp"
#include "ferry/session.hpp"

namespace ferry::tools {

namespace {

const toml::node& node_of(const void* node) {
  return *static_cast<const toml::node*>(node);
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

}  // namespace

ConfigValue::ConfigValue(std::string_view text, std::string where)
    : text_(text), where_(std::move(where)) {}

ConfigValue::ConfigValue(const void* toml_node, std::string where)
    : node_(toml_node), where_(std::move(where)) {}

Error ConfigValue::fail(std::string_view problem) const {
  return Error(Errc::invalid_argument, where_ + ": " + std::string(problem));
}

Error ConfigValue::wrong_type(std::string_view expected) const {
  return fail("expected " + std::string(expected) + ", got " +
              std::string(type_name(node_of(node_).type())));
}

Result<std::string> ConfigValue::string() const {
  if (node_ == nullptr) return text_;
  if (const auto* s = node_of(node_).as_string()) return s->get();
  return wrong_type("a string");
}

Result<bool> ConfigValue::boolean() const {
  if (node_ != nullptr) {
    if (const auto* b = node_of(node_).as_boolean()) return b->get();
    return wrong_type("a boolean (true or false)");
  }
  if (text_ == "true") return true;
  if (text_ == "false") return false;
  return fail("expected true or false, got " + quoted(text_));
}

Result<std::uint64_t> ConfigValue::integer(std::uint64_t min, std::uint64_t max) const {
  const std::string range = "an integer " + std::to_string(min) + ".." + std::to_string(max);
  std::uint64_t n = 0;
  if (node_ != nullptr) {
    const auto* i = node_of(node_).as_integer();
    if (i == nullptr) return wrong_type(range);
    if (i->get() < 0) return fail("expected " + range + ", got " + std::to_string(i->get()));
    n = static_cast<std::uint64_t>(i->get());
  } else {
    const auto parsed = parse_number<std::uint64_t>(text_);
    if (!parsed) return fail("expected " + range + ", got " + quoted(text_));
    n = *parsed;
  }
  if (n < min || n > max) return fail("expected " + range + ", got " + std::to_string(n));
  return n;
}

Result<std::uint64_t> ConfigValue::size() const {
  constexpr std::string_view kExpected = "a byte count (an integer or a string like \"64KiB\")";
  std::string text = text_;
  if (node_ != nullptr) {
    if (const auto* i = node_of(node_).as_integer()) {
      if (i->get() < 0) return fail("expected a byte count, got " + std::to_string(i->get()));
      return static_cast<std::uint64_t>(i->get());
    }
    const auto* s = node_of(node_).as_string();
    if (s == nullptr) return wrong_type(kExpected);
    text = s->get();
  }
  auto n = parse_size(text);
  if (!n) return fail(n.error().message());
  return *n;
}

Result<std::vector<std::pair<std::string, std::string>>> ConfigValue::items(
    std::string_view what) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (node_ == nullptr) {
    out.emplace_back(text_, where_);
    return out;
  }
  const auto* array = node_of(node_).as_array();
  const std::string expected = "an array of " + std::string(what);
  if (array == nullptr) return wrong_type(expected);
  for (const auto& element : *array) {
    if (const auto* s = element.as_string()) {
      out.emplace_back(s->get(), where_);
    } else if (const auto* i = element.as_integer(); i != nullptr && i->get() >= 0) {
      out.emplace_back(std::to_string(i->get()), where_);
    } else {
      return fail("expected " + expected + ", found an element that is " +
                  (element.is_integer() ? std::string("negative")
                                        : std::string(type_name(element.type()))));
    }
  }
  return out;
}

Result<void> read_config_file(
    const std::string& path,
    const std::function<Result<void>(std::string_view key, std::string_view at,
                                     const ConfigValue& value)>& apply) {
  auto text = read_file(path, "config file");
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
    const ConfigValue value(
        static_cast<const void*>(e.node),
        path + ":" + std::to_string(e.node->source().begin.line) + ": " + e.key);
    if (auto r = apply(e.key, at, value); !r) return r;
  }
  return {};
}

Result<std::string> one_of(const ConfigValue& in, std::initializer_list<std::string_view> choices) {
  auto s = in.string();
  if (!s) return s.error();
  std::string expected;
  std::size_t i = 0;
  for (std::string_view c : choices) {
    if (*s == c) return s;
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(c);
    ++i;
  }
  return in.fail("expected " + expected + ", got " + quoted(*s));
}

Result<std::uint16_t> parse_message_type(std::string_view text, std::string_view what) {
  const auto t = parse_number<std::uint16_t>(text);
  if (!t || *t >= kReservedTypes) {
    return Error(Errc::invalid_argument, std::string(what) + " " + quoted(text) +
                                             " is not a message type 0.." +
                                             std::to_string(kReservedTypes - 1));
  }
  return *t;
}

Result<void> check_listen(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, "listen address " + quoted(text) + ": " +
                                             std::string(why) +
                                             " (use ADDRESS:PORT, e.g. 127.0.0.1:9443)");
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  const auto port = parse_number<std::uint16_t>(text.substr(colon + 1));
  if (!port) return bad("the port must be a number from 0 to 65535");
  std::string host(text.substr(0, colon));
  std::array<unsigned char, 16> addr{};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    if (::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), addr.data()) == 1) return {};
  } else if (::inet_pton(AF_INET, host.c_str(), addr.data()) == 1) {
    return {};
  }
  return bad("the address must be a numeric IPv4 address or [IPv6]");
}

Result<void> set_string(const ConfigValue& in, std::string* out) {
  auto s = in.string();
  if (!s) return s.error();
  *out = std::move(*s);
  return {};
}

Result<void> set_ms(const ConfigValue& in, std::uint64_t min, std::chrono::milliseconds* out) {
  constexpr std::uint64_t kDayMs = 86'400'000;
  return set_ms(in, min, kDayMs, out);
}

Result<void> set_ms(const ConfigValue& in, std::uint64_t min, std::uint64_t max,
                    std::chrono::milliseconds* out) {
  auto n = in.integer(min, max);
  if (!n) return n.error();
  *out = std::chrono::milliseconds(*n);
  return {};
}

Result<void> set_u32(const ConfigValue& in, std::uint64_t min, std::uint64_t max,
                     std::uint32_t* out) {
  auto n = in.integer(min, max);
  if (!n) return n.error();
  *out = static_cast<std::uint32_t>(*n);
  return {};
}

Result<void> set_size(const ConfigValue& in, std::uint64_t min, std::uint64_t max,
                      std::uint32_t* out) {
  auto n = in.size();
  if (!n) return n.error();
  if (*n < min || *n > max)
    return in.fail("expected " + format_size(min) + " to " + format_size(max));
  *out = static_cast<std::uint32_t>(*n);
  return {};
}

Result<void> set_session(const ConfigValue& in, std::string* out) {
  auto s = in.string();
  if (!s) return s.error();
  if (auto ok = check_session_name(*s); !ok) return in.fail(ok.error().message());
  *out = std::move(*s);
  return {};
}

Result<void> set_endpoint(const ConfigValue& in, std::string* out) {
  auto s = in.string();
  if (!s) return s.error();
  if (auto ok = check_endpoint_name(*s); !ok) return in.fail(ok.error().message());
  *out = std::move(*s);
  return {};
}

Result<void> set_listen(const ConfigValue& in, std::string* out) {
  auto s = in.string();
  if (!s) return s.error();
  if (!s->empty()) {
    if (auto ok = check_listen(*s); !ok) return in.fail(ok.error().message());
  }
  *out = std::move(*s);
  return {};
}

Result<void> set_log_level(const ConfigValue& in, std::string* out) {
  auto s = one_of(in, {"error", "warn", "info", "debug"});
  if (!s) return s.error();
  *out = std::move(*s);
  return {};
}

Result<void> set_log_format(const ConfigValue& in, std::string* out) {
  auto s = one_of(in, {"json", "text"});
  if (!s) return s.error();
  *out = std::move(*s);
  return {};
}

Result<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view suffix = text.substr(digits);
  while (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  const auto bad = [&](std::string_view why) {
    return Error(Errc::invalid_argument, "bad size " + quoted(text) + ": " + std::string(why));
  };
  const auto n = parse_number<std::uint64_t>(text.substr(0, digits));
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

std::string format_size(std::uint64_t n) {
  constexpr std::string_view kUnits[] = {"GiB", "MiB", "KiB"};
  constexpr std::uint64_t kScales[] = {std::uint64_t{1} << 30, std::uint64_t{1} << 20, 1024};
  for (std::size_t i = 0; i < 3; ++i) {
    if (n != 0 && n % kScales[i] == 0)
      return std::to_string(n / kScales[i]) + std::string(kUnits[i]);
  }
  return std::to_string(n);
}

}  // namespace ferry::tools
