// SPDX-License-Identifier: Apache-2.0
// Memory shared with child processes (tools/common/shared_region.hpp).
#include "common/shared_region.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>

#include "common/process.hpp"

namespace ferry::tools {
namespace {

TEST(SharedRegion, IsZeroedAndSharedWithAForkedChild) {
  auto region = SharedRegion::create("ferry-test-region", 8192);
  ASSERT_TRUE(region.ok()) << region.error().message();
  ASSERT_EQ(region->size(), 8192U);
  const std::byte* begin = region->data();
  EXPECT_TRUE(
      std::all_of(begin, begin + region->size(), [](std::byte b) { return b == std::byte{0}; }));
  const pid_t child = fork_child([&] {
    region->data()[8191] = std::byte{42};
    return 0;
  });
  ASSERT_GT(child, 0);
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(region->data()[8191], std::byte{42});
}

TEST(SharedRegion, AttachMapsTheSameMemoryFromTheDescriptor) {
  auto region = SharedRegion::create("ferry-test-region", 4096);
  ASSERT_TRUE(region.ok());
  auto again = SharedRegion::attach(UniqueFd(::dup(region->fd())), "the test region");
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->size(), 4096U);
  again->data()[7] = std::byte{9};
  EXPECT_EQ(region->data()[7], std::byte{9});
  EXPECT_NE(again->data(), region->data());
}

TEST(SharedRegion, AttachRefusesAnEmptyOrBadDescriptor) {
  auto empty = SharedRegion::attach(UniqueFd(::memfd_create("empty", MFD_CLOEXEC)), "the region");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(), "the region is empty");
  auto bad = SharedRegion::attach(UniqueFd(-1), "descriptor -1");
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace ferry::tools
