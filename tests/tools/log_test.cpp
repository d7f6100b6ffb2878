// SPDX-License-Identifier: Apache-2.0
// The daemons' log (tools/common/log.cpp): every line one JSON object with the fixed fields,
// values escaped, levels filtered, a repeating event limited per key; the text format.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/log.hpp"

namespace ferry::tools {
namespace {

// Runs fn with stderr sent to a temporary file and returns the lines written.
template <class Fn>
std::vector<std::string> stderr_lines(Fn fn) {
  std::fflush(stderr);
  FILE* tmp = std::tmpfile();
  const int saved = ::dup(2);
  ::dup2(::fileno(tmp), 2);
  fn();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(tmp);
  std::vector<std::string> lines;
  char buf[4096];
  std::string current;
  while (std::fgets(buf, sizeof buf, tmp) != nullptr) {
    current += buf;
    if (!current.empty() && current.back() == '\n') {
      current.pop_back();
      lines.push_back(current);
      current.clear();
    }
  }
  std::fclose(tmp);
  return lines;
}

TEST(FerrydLog, EachLineIsOneJsonObjectWithTheFixedFieldsAndEscapedValues) {
  const std::string hostile = "name \"with\" quotes\\ and\nnewline \x01 and \xff bytes";
  auto lines = stderr_lines([&] {
    Log log(LogLevel::info, LogFormat::json);
    log.write(LogLevel::info, "server", "connected", "connected: " + hostile,
              {{"conn", std::uint64_t{7}}, {"pid", std::int64_t{42}}, {"name", hostile}});
    log.write(LogLevel::debug, "server", "hidden", "below the level: not written");
    log.write(LogLevel::warn, "server", "protocol_error", "broke the protocol");
  });
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string& line : lines) {
    const auto j = nlohmann::json::parse(line);  // throws, failing the test, if not JSON
    for (const char* key : {"time", "level", "component", "event", "msg"}) {
      EXPECT_TRUE(j.contains(key)) << key << " missing in " << line;
    }
    EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
  }
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["event"], "connected");
  EXPECT_EQ(first["conn"], 7);
  EXPECT_EQ(first["pid"], 42);
  // Quotes, backslashes and control characters survive the round trip; the invalid byte
  // is replaced rather than breaking the line.
  const std::string name = first["name"].get<std::string>();
  EXPECT_EQ(name.substr(0, 34), hostile.substr(0, 34));
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "warning");
}

TEST(FerrydLog, ARepeatingEventIsLimitedPerKeyAndTheRestCounted) {
  auto lines = stderr_lines([] {
    Log log(LogLevel::info, LogFormat::json);
    for (int i = 0; i < 100; ++i) {
      log.limited(LogLevel::warn, "server", "protocol_error", 1, "peer 1 again");
    }
    log.limited(LogLevel::warn, "server", "protocol_error", 2, "peer 2 once");
  });
  int peer1 = 0;
  for (const std::string& line : lines) {
    const auto j = nlohmann::json::parse(line);
    if (j["msg"] == "peer 1 again") ++peer1;
  }
  // All 100 came within a second or two: at most two windows' worth got through.
  EXPECT_GE(peer1, Log::kLimitPerSecond);
  EXPECT_LE(peer1, 2 * Log::kLimitPerSecond);
  EXPECT_EQ(nlohmann::json::parse(lines.back())["msg"], "peer 2 once");
}

TEST(FerrydLog, TextFormatAndBadNames) {
  auto lines = stderr_lines([] {
    Log log(LogLevel::debug, LogFormat::text);
    log.write(LogLevel::debug, "server", "connected", "connected: app",
              {{"conn", std::uint64_t{3}}});
  });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("debug ferryd: connected: app conn=3"), std::string::npos) << lines[0];
  EXPECT_FALSE(parse_log_level("loud"));
  EXPECT_FALSE(parse_log_format("xml"));
  EXPECT_TRUE(parse_log_format("json"));
}

}  // namespace
}  // namespace ferry::tools
