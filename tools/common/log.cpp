// SPDX-License-Identifier: Apache-2.0
// tools/common/log.cpp: the daemons' log (log.hpp).
#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <ctime>
#include <nlohmann/json.hpp>

namespace ferry::tools {

namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::debug: return spdlog::level::debug;
  }
  return spdlog::level::info;
}

std::int64_t now_second() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

}  // namespace

ferry::Result<LogLevel> parse_log_level(std::string_view text) {
  if (text == "error") return LogLevel::error;
  if (text == "warn") return LogLevel::warn;
  if (text == "info") return LogLevel::info;
  if (text == "debug") return LogLevel::debug;
  return ferry::Error(ferry::Errc::invalid_argument,
                      "log level '" + std::string(text) + "': use error, warn, info or debug");
}

ferry::Result<LogFormat> parse_log_format(std::string_view text) {
  if (text == "json") return LogFormat::json;
  if (text == "text") return LogFormat::text;
  return ferry::Error(ferry::Errc::invalid_argument,
                      "log format '" + std::string(text) + "': use json or text");
}

Log::Log(LogLevel level, LogFormat format, std::string_view program)
    : level_(level),
      format_(format),
      logger_(std::make_shared<spdlog::logger>(std::string(program),
                                               std::make_shared<spdlog::sinks::stderr_sink_st>())) {
  // The JSON line's first two fields come from the pattern, the rest (%v) from emit().
  logger_->set_pattern(format == LogFormat::json
                           ? R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})"
                           : "%Y-%m-%d %H:%M:%S.%e %l %n: %v",
                       spdlog::pattern_time_type::utc);
  logger_->set_level(to_spdlog(level));
  logger_->flush_on(spdlog::level::trace);
}

Log::~Log() = default;

void Log::write(LogLevel level, std::string_view component, std::string_view event,
                std::string_view msg, std::initializer_list<LogField> fields) {
  if (enabled(level)) emit(level, component, event, msg, fields, 0);
}

void Log::limited(LogLevel level, std::string_view component, std::string_view event,
                  std::uint64_t key, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  Window& w = windows_[{std::string(event), key}];
  const std::int64_t second = now_second();
  if (w.second != second) {
    w.second = second;
    w.lines = 0;
  }
  if (w.lines >= kLimitPerSecond) {
    ++w.suppressed;
    return;
  }
  ++w.lines;
  emit(level, component, event, msg, fields, std::exchange(w.suppressed, 0));
}

void Log::emit(LogLevel level, std::string_view component, std::string_view event,
               std::string_view msg, std::initializer_list<LogField> fields,
               std::uint64_t suppressed) {
  std::string line;
  if (format_ == LogFormat::json) {
    nlohmann::ordered_json j;
    j["component"] = component;
    j["event"] = event;
    j["msg"] = msg;
    for (const LogField& f : fields) {
      std::visit([&](const auto& v) { j[std::string(f.key)] = v; }, f.value);
    }
    if (suppressed > 0) j["suppressed"] = suppressed;
    // Invalid UTF-8 (a peer's name) is replaced, never an exception.
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line = line.substr(1, line.size() - 2);  // the pattern has the braces
  } else {
    line.append(msg);
    for (const LogField& f : fields) {
      line.append(" ").append(f.key).append("=");
      std::visit(
          [&](const auto& v) {
            if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string_view>) {
              line.append(v);
            } else {
              line.append(std::to_string(v));
            }
          },
          f.value);
    }
    if (suppressed > 0)
      line.append(" (").append(std::to_string(suppressed)).append(" like it suppressed)");
  }
  logger_->log(to_spdlog(level), "{}", line);
}

}  // namespace ferry::tools
