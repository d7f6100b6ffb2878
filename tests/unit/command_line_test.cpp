// SPDX-License-Identifier: Apache-2.0
// The tools' command-line parser (tools/common/command_line.hpp): what it accepts, and the
// one line it says for each way a command line can be wrong.
#include "common/command_line.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ferry::tools {
namespace {

constexpr Flag kFlags[] = {
    {"--type", "T", "message type"},
    {"--data", "STR", "payload"},
    {"--json", "", "print JSON"},
    {"--help", "", "print this help"},
};

using Given = std::vector<std::pair<std::string, std::string>>;

Given given(std::vector<std::string> args) {
  auto r = parse_flags(std::move(args), kFlags, "tool --help");
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? r->given() : Given{};
}

std::string error_of(std::vector<std::string> args, Words words = Words::refuse) {
  auto r = parse_flags(std::move(args), kFlags, "tool --help", words);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return "(accepted)";
  EXPECT_EQ(r.error().code(), Errc::invalid_argument);
  return r.error().message();
}

TEST(CommandLine, FlagsComeBackInCommandLineOrderWithTheirValues) {
  EXPECT_EQ(given({"--json", "--type", "7", "--data=a b", "--type=0x10"}),
            (Given{{"--json", ""}, {"--type", "7"}, {"--data", "a b"}, {"--type", "0x10"}}));
  EXPECT_EQ(given({}), Given{});
}

TEST(CommandLine, ValuesMayLookLikeFlagsOrBeEmpty) {
  EXPECT_EQ(given({"--data", "-5"}), (Given{{"--data", "-5"}}));
  EXPECT_EQ(given({"--data", "-"}), (Given{{"--data", "-"}}));
  EXPECT_EQ(given({"--data", "--json"}), (Given{{"--data", "--json"}}));
  EXPECT_EQ(given({"--data", ""}), (Given{{"--data", ""}}));
  EXPECT_EQ(given({"--data="}), (Given{{"--data", ""}}));
  EXPECT_EQ(given({"--data=x=y"}), (Given{{"--data", "x=y"}}));
}

TEST(CommandLine, LastValueWins) {
  auto r = parse_flags({"--type", "1", "--type", "2"}, kFlags, "tool --help");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->get("--type"), "2");
  EXPECT_TRUE(r->has("--type"));
  EXPECT_FALSE(r->has("--data"));
  EXPECT_EQ(r->get("--data"), nullptr);
}

TEST(CommandLine, DashHIsHelp) {
  EXPECT_EQ(given({"-h"}), (Given{{"--help", ""}}));
}

TEST(CommandLine, EachMistakeIsOneLineNamingIt) {
  EXPECT_EQ(error_of({"--bogus"}), "unknown option '--bogus' (see tool --help)");
  EXPECT_EQ(error_of({"--bogus=1"}), "unknown option '--bogus' (see tool --help)");
  EXPECT_EQ(error_of({"stray"}), "unexpected argument 'stray' (see tool --help)");
  EXPECT_EQ(error_of({"-x"}), "unexpected argument '-x' (see tool --help)");
  EXPECT_EQ(error_of({"--json", "stray"}), "unexpected argument 'stray' (see tool --help)");
  EXPECT_EQ(error_of({"--type"}), "--type needs a value (see tool --help)");
  EXPECT_EQ(error_of({"--json=1"}), "--json takes no value (see tool --help)");
  EXPECT_EQ(error_of({"--help", "--bogus"}), "unknown option '--bogus' (see tool --help)");
}

TEST(CommandLine, EndFlagsStopsAtTheFirstWord) {
  auto r =
      parse_flags({"--type", "1", "send", "--bogus", "x"}, kFlags, "tool --help", Words::end_flags);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->given(), (Given{{"--type", "1"}}));
  EXPECT_EQ(r->rest(), (std::vector<std::string>{"send", "--bogus", "x"}));
  EXPECT_EQ(error_of({"--bogus", "send"}, Words::end_flags),
            "unknown option '--bogus' (see tool --help)");
}

TEST(CommandLine, HelpLinesAlignAtTheColumn) {
  const Flag flags[] = {{"--type", "T", "message type"},
                        {"--a-very-long-flag-name", "VALUE", "wraps"},
                        {"--hidden", "FD", ""},
                        {"--two", "", "first line\nsecond line"}};
  EXPECT_EQ(flag_help(flags, 16),
            "  --type T      message type\n"
            "  --a-very-long-flag-name VALUE\n"
            "                wraps\n"
            "  --two         first line\n"
            "                second line\n");
}

}  // namespace
}  // namespace ferry::tools
