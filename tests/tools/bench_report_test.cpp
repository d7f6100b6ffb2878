// SPDX-License-Identifier: Apache-2.0
// tests/tools/bench_report_test.cpp: the result line a benchmark or demo participant sends
// its orchestrator (bench/workload/report.hpp): every field survives encode() and decode(),
// and a line with a field missing, unknown or malformed is refused, not half read.
#include <gtest/gtest.h>

#include <string>

#include "workload/report.hpp"

namespace {

using ferry::bench::Report;

Report sample() {
  Report r;
  r.msgs = 123456;
  r.seconds = 2.5;
  r.errors.lost = 1;
  r.errors.duplicated = 2;
  r.errors.reordered = 3;
  r.errors.corrupt = 4;
  r.errors.failed = 5;
  r.latency.add(1000);
  r.latency.add(250'000);
  return r;
}

TEST(BenchReport, EveryFieldSurvivesTheLine) {
  const Report in = sample();
  const auto out = Report::decode(in.encode());
  ASSERT_TRUE(out.has_value()) << in.encode();
  EXPECT_EQ(out->msgs, in.msgs);
  EXPECT_DOUBLE_EQ(out->seconds, in.seconds);
  EXPECT_EQ(out->errors.lost, 1u);
  EXPECT_EQ(out->errors.duplicated, 2u);
  EXPECT_EQ(out->errors.reordered, 3u);
  EXPECT_EQ(out->errors.corrupt, 4u);
  EXPECT_EQ(out->errors.failed, 5u);
  EXPECT_EQ(out->errors.total(), 15u);
  EXPECT_EQ(out->latency.count(), 2u);
  EXPECT_EQ(out->latency.encode(), in.latency.encode());
  EXPECT_FALSE(out->wakes.has_value());
  // The wake-up count is there only when a participant counted it.
  Report counted = sample();
  counted.wakes = 77;
  const auto back = Report::decode(counted.encode());
  ASSERT_TRUE(back.has_value()) << counted.encode();
  EXPECT_EQ(back->wakes, std::optional<std::uint64_t>(77));
}

TEST(BenchReport, RefusesIncompleteOrForeignLines) {
  const std::string line = sample().encode();
  EXPECT_FALSE(Report::decode("ready"));
  EXPECT_FALSE(Report::decode("error something"));
  // Each field left out in turn.
  for (const char* field : {"msgs=", "seconds=", "lost=", "duplicated=", "reordered=", "corrupt=",
                            "failed=", "latency="}) {
    const std::size_t at = line.find(std::string(" ") + field);
    ASSERT_NE(at, std::string::npos) << field;
    const std::size_t next = line.find(' ', at + 1);
    const std::string without =
        line.substr(0, at) + (next == std::string::npos ? "" : line.substr(next));
    EXPECT_FALSE(Report::decode(without)) << without;
  }
  EXPECT_FALSE(Report::decode(line + " bogus=1"));
  EXPECT_FALSE(Report::decode(line + " wakes=x"));
  EXPECT_FALSE(Report::decode(line + " wakes=1 wakes=2"));
  std::string bad = line;
  bad.replace(bad.find("lost=1"), 6, "lost=x");
  EXPECT_FALSE(Report::decode(bad));
}

}  // namespace
