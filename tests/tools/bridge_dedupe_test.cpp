// SPDX-License-Identifier: Apache-2.0
// ferry-bridge's record of the JetStream messages already on the bus (tools/bridge/dedupe.hpp):
// in order and out of order, the window moving on, what a reopened file remembers (a bridge
// killed and started again), slots reused when all are taken, and a file for another window.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "bridge/dedupe.hpp"

namespace ferry::bridge {
namespace {

class DedupeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/ferry-dedupe-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_ + "/state"; }
  std::string dir_;
};

TEST_F(DedupeTest, InOrderAndOutOfOrder) {
  auto d = Dedupe::open(path(), 128);
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_FALSE(d->seen("a", 1));
  d->commit("a", 1);
  d->commit("a", 2);
  EXPECT_TRUE(d->seen("a", 1));
  EXPECT_TRUE(d->seen("a", 2));
  EXPECT_FALSE(d->seen("a", 3));
  d->commit("a", 5);  // 3 and 4 still to come
  EXPECT_TRUE(d->seen("a", 5));
  EXPECT_FALSE(d->seen("a", 3));
  EXPECT_FALSE(d->seen("a", 4));
  d->commit("a", 4);
  d->commit("a", 3);
  for (std::uint64_t s = 1; s <= 5; ++s) EXPECT_TRUE(d->seen("a", s)) << s;
  EXPECT_FALSE(d->seen("a", 6));
  EXPECT_FALSE(d->seen("b", 1)) << "keys are apart";
}

TEST_F(DedupeTest, TheWindowMovesOnPastWhatIsTooFarBehind) {
  auto d = Dedupe::open(path(), 64);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->window(), 64u);
  d->commit("a", 1);
  d->commit("a", 100);  // 2..35 fall behind the window: counted as done
  EXPECT_TRUE(d->seen("a", 100));
  EXPECT_TRUE(d->seen("a", 30));
  EXPECT_FALSE(d->seen("a", 99));
  EXPECT_FALSE(d->seen("a", 101));
  EXPECT_FALSE(d->seen("a", 100 + 64));
}

TEST_F(DedupeTest, AReopenedFileRemembersWhatWasCommitted) {
  {
    auto d = Dedupe::open(path(), 1000);
    ASSERT_TRUE(d);
    for (std::uint64_t s = 1; s <= 500; ++s) d->commit("origin/7", s);
    d->commit("origin/7", 700);
  }
  auto again = Dedupe::open(path(), 1000);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->seen("origin/7", 500));
  EXPECT_TRUE(again->seen("origin/7", 700));
  EXPECT_FALSE(again->seen("origin/7", 501));
  // Another window: started afresh.
  auto other = Dedupe::open(path(), 2000);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->seen("origin/7", 1));
}

TEST_F(DedupeTest, TheLeastRecentlyUsedSlotIsReusedWhenAllAreTaken) {
  auto d = Dedupe::open(path(), 64);
  ASSERT_TRUE(d);
  for (std::uint32_t k = 0; k < Dedupe::kSlots; ++k) d->commit("key" + std::to_string(k), 1);
  d->commit("key0", 2);      // key0 used again: key1 is now the oldest
  d->commit("one more", 1);  // takes key1's slot
  EXPECT_TRUE(d->seen("key0", 2));
  EXPECT_TRUE(d->seen("one more", 1));
  EXPECT_FALSE(d->seen("key1", 1));
  EXPECT_TRUE(d->seen("key2", 1));
}

TEST_F(DedupeTest, AFileThatCannotBeOpenedIsAnErrorNamingIt) {
  auto d = Dedupe::open(dir_ + "/no/such/dir/state", 64);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find(dir_ + "/no/such/dir/state"), std::string::npos);
}

}  // namespace
}  // namespace ferry::bridge
