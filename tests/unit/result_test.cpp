// SPDX-License-Identifier: Apache-2.0
// Result<T> shaped like std::expected<T, Error>; Errc as a std::error_code enum.
#include "ferry/result.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <system_error>

namespace ferry {
namespace {

Result<int> parse(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
    return Error(Errc::invalid_argument, "not a number: '" + s + "'");
  }
  return std::stoi(s);
}

Result<int> half(int v) {
  if (v % 2 != 0) return Error(Errc::invalid_argument, std::to_string(v) + " is odd");
  return v / 2;
}

TEST(Result, ValueOfAnErrorThrowsItsMessage) {
  const Result<int> bad = parse("x1");
  try {
    (void)bad.value();
    FAIL() << "value() of an error returned";
  } catch (const BadResultAccess& e) {
    EXPECT_STREQ(e.what(), "not a number: 'x1'");
    EXPECT_EQ(e.error().code(), Errc::invalid_argument);
  }
  // Caught as any std::exception, as a user without ferry's types would.
  EXPECT_THROW((void)*parse("?"), std::exception);
  EXPECT_THROW((void)Result<std::string>(Error(Errc::timed_out)).value(), BadResultAccess);
  try {
    (void)Result<std::string>(Error(Errc::timed_out)).value();
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "timed_out");  // no message: the code's name
  }
  EXPECT_EQ(parse("42").value(), 42);
}

TEST(Result, VoidValueThrowsOnlyOnError) {
  EXPECT_NO_THROW(Result<void>().value());
  EXPECT_THROW(Result<void>(Error(Errc::busy, "server full")).value(), BadResultAccess);
}

TEST(Result, ValueOr) {
  EXPECT_EQ(parse("7").value_or(-1), 7);
  EXPECT_EQ(parse("seven").value_or(-1), -1);
  EXPECT_EQ(Result<std::string>(Error(Errc::not_found)).value_or("none"), "none");
  // Moves out of an rvalue.
  Result<std::unique_ptr<int>> owner(std::make_unique<int>(3));
  auto moved = std::move(owner).value_or(nullptr);
  ASSERT_NE(moved, nullptr);
  EXPECT_EQ(*moved, 3);
}

TEST(Result, AndThenChainsAndPassesTheFirstErrorThrough) {
  EXPECT_EQ(parse("84").and_then(half).and_then(half).value(), 21);
  const auto odd = parse("42").and_then(half).and_then(half);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().message(), "21 is odd");
  int calls = 0;
  const auto early = parse("x").and_then([&](int v) {
    ++calls;
    return half(v);
  });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(early.error().message(), "not a number: 'x'");
}

TEST(Result, TransformMapsTheValue) {
  const Result<std::string> s = parse("5").transform([](int v) { return std::to_string(v * 2); });
  EXPECT_EQ(s.value(), "10");
  const Result<std::string> e = parse("").transform([](int v) { return std::to_string(v); });
  EXPECT_EQ(e.code(), Errc::invalid_argument);
  int seen = 0;
  const Result<void> v = parse("9").transform([&](int x) { seen = x; });
  EXPECT_TRUE(v);
  EXPECT_EQ(seen, 9);
  EXPECT_EQ(Result<void>().transform([] { return 1; }).value(), 1);
  EXPECT_FALSE(Result<void>(Error(Errc::busy)).transform([] { return 1; }));
}

TEST(Result, OrElseRecoversOrAddsContext) {
  EXPECT_EQ(parse("x").or_else([](const Error&) -> Result<int> { return 0; }).value(), 0);
  const auto context = parse("x").or_else([](const Error& e) -> Result<int> {
    return Error(e.code(), "reading the port: " + e.message());
  });
  EXPECT_EQ(context.error().message(), "reading the port: not a number: 'x'");
  int calls = 0;
  EXPECT_EQ(parse("3")
                .or_else([&](const Error&) -> Result<int> {
                  ++calls;
                  return 0;
                })
                .value(),
            3);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(Result<void>(Error(Errc::busy)).or_else([](const Error&) { return Result<void>(); }));
  EXPECT_EQ(Result<void>().and_then([] { return parse("4"); }).value(), 4);
}

TEST(Result, ErrcIsAStdErrorCode) {
  const std::error_code ec = Errc::timed_out;
  EXPECT_STREQ(ec.category().name(), "ferry");
  EXPECT_EQ(ec.message(), "timed_out");
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(make_error_code(Errc::permission), std::errc::permission_denied);
  EXPECT_EQ(make_error_code(Errc::would_block), std::errc::operation_would_block);
  EXPECT_EQ(make_error_code(Errc::bad_crc), std::errc::bad_message);
  EXPECT_NE(make_error_code(Errc::system), std::errc::io_error);
  const Error e = Error::from_errno(ENOENT, "open /x");
  EXPECT_EQ(e.error_code(), std::errc::no_such_file_or_directory);
  EXPECT_EQ(e.error_code(), Errc::not_found);
  EXPECT_EQ(e.sys_errno(), ENOENT);
  // Usable where std::system_error is the currency.
  const std::system_error se(e.error_code(), e.message());
  EXPECT_EQ(se.code(), Errc::not_found);
}

}  // namespace
}  // namespace ferry
