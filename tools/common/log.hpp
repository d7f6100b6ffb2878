// SPDX-License-Identifier: Apache-2.0
// tools/common/log.hpp: the log of ferryd and ferry-gateway. One JSON object a line on
// stderr (journald keeps it under systemd), or a line of text with --log-format text:
//
//   {"time":"2026-11-27T10:02:03.123456Z","level":"info","component":"server",
//    "event":"connected","msg":"...","endpoint":"bus","conn":7,"pid":4242,"name":"app"}
//
// Values are escaped by nlohmann-json; spdlog (header-only, so ferryd keeps its static C++
// runtime) writes the lines. Names, pids, ids, sizes and reasons only: never payload bytes.
// Events a peer can cause again and again go through limited(), at most kLimitPerSecond
// lines per (event, key) each second; the next line that passes says how many were
// suppressed.
// Thread-safety: one thread (the daemon's loop).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "ferry/result.hpp"

namespace spdlog {
class logger;
}

namespace ferry::tools {

enum class LogLevel : std::uint8_t { error, warn, info, debug };
enum class LogFormat : std::uint8_t { json, text };

ferry::Result<LogLevel> parse_log_level(std::string_view text);
ferry::Result<LogFormat> parse_log_format(std::string_view text);

struct LogField {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, std::uint64_t> value;
};

class Log {
 public:
  static constexpr int kLimitPerSecond = 10;

  // `program` names the writer in text lines ("ferryd: ..."); ferry-gateway shares the format.
  Log(LogLevel level, LogFormat format, std::string_view program = "ferryd");
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  bool enabled(LogLevel level) const noexcept { return level <= level_; }
  void write(LogLevel level, std::string_view component, std::string_view event,
             std::string_view msg, std::initializer_list<LogField> fields = {});
  // write(), rate-limited per (event, key), e.g. key = the connection id.
  void limited(LogLevel level, std::string_view component, std::string_view event,
               std::uint64_t key, std::string_view msg,
               std::initializer_list<LogField> fields = {});

 private:
  struct Window {
    std::int64_t second = 0;
    int lines = 0;
    std::uint64_t suppressed = 0;
  };
  void emit(LogLevel level, std::string_view component, std::string_view event,
            std::string_view msg, std::initializer_list<LogField> fields, std::uint64_t suppressed);

  LogLevel level_;
  LogFormat format_;
  std::shared_ptr<spdlog::logger> logger_;
  std::map<std::pair<std::string, std::uint64_t>, Window> windows_;
};

}  // namespace ferry::tools
