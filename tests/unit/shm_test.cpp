// SPDX-License-Identifier: Apache-2.0
// Unit tests for ferry/shm.hpp: sealed memfd segments, from_fd, named segments in /dev/shm
// (mode, owner, O_EXCL, cleanup) and object names.
#include "ferry/shm.hpp"
#include "support/test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "support/assertions.hpp"

namespace ferry {
namespace {

// A /dev/shm name unique to this process and test, removed when the test ends, however it ends.
class ShmName {
 public:
  explicit ShmName(std::string_view suffix = "")
      : name_("ferry-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() +
              std::string(suffix)) {}
  ShmName(const ShmName&) = delete;
  ShmName& operator=(const ShmName&) = delete;
  ~ShmName() { ::shm_unlink(("/" + name_).c_str()); }

  const std::string& str() const { return name_; }
  std::string path() const { return "/dev/shm/" + name_; }

 private:
  std::string name_;
};

using ferry::test::fails_with;

// A number from /proc/meminfo or /proc/sys, or -1 if it cannot be read.
long proc_value(const std::string& file, const std::string& key = {}) {
  std::ifstream in(file);
  std::string word;
  long value = -1;
  if (key.empty()) return in >> value ? value : -1;
  while (in >> word) {
    if (word == key) return in >> value ? value : -1;
  }
  return -1;
}

bool all_zero(const SharedMemory& shm) {
  const auto* p = static_cast<const unsigned char*>(shm.data());
  for (std::size_t i = 0; i < shm.size(); ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

unsigned char* bytes_of(const SharedMemory& shm) {
  return static_cast<unsigned char*>(shm.data());
}

TEST(ShmAnonymous, CreatesZeroedWritableSealedSegment) {
  auto shm = SharedMemory::create_anonymous("unit", 10000);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  EXPECT_EQ(shm->size(), 10000u);
  EXPECT_EQ(shm->name(), "unit");
  EXPECT_FALSE(shm->huge_pages());
  EXPECT_TRUE(all_zero(*shm));
  std::memset(shm->data(), 0xAB, shm->size());
  EXPECT_EQ(bytes_of(*shm)[9999], 0xAB);

  struct stat st {};
  ASSERT_EQ(::fstat(shm->fd(), &st), 0);
  EXPECT_EQ(st.st_size, 10000);
  const int seals = ::fcntl(shm->fd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  errno = 0;
  EXPECT_EQ(::ftruncate(shm->fd(), 0), -1);
  EXPECT_EQ(errno, EPERM);
  errno = 0;
  EXPECT_EQ(::ftruncate(shm->fd(), 20000), -1);
  EXPECT_EQ(errno, EPERM);

  char link[256] = {};
  const std::string fd_path = "/proc/self/fd/" + std::to_string(shm->fd());
  ASSERT_GT(::readlink(fd_path.c_str(), link, sizeof link - 1), 0);
  EXPECT_NE(std::string(link).find("memfd:ferry:unit"), std::string::npos) << link;
}

TEST(ShmAnonymous, RejectsBadArguments) {
  EXPECT_TRUE(fails_with(SharedMemory::create_anonymous("empty", 0), Errc::invalid_argument,
                         "memfd ferry:empty"));
  EXPECT_TRUE(fails_with(SharedMemory::create_anonymous(std::string(201, 'x'), 4096),
                         Errc::invalid_argument, "200 characters"));
}

TEST(ShmAnonymous, MoveTransfersOwnership) {
  auto shm = SharedMemory::create_anonymous("move", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  SharedMemory a = std::move(*shm);
  EXPECT_FALSE(*shm);
  EXPECT_EQ(shm->fd(), -1);
  ASSERT_TRUE(a);
  SharedMemory b;
  b = std::move(a);
  EXPECT_FALSE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(b.size(), 4096u);
  bytes_of(b)[0] = 1;
}

TEST(ShmAnonymous, HugePagesOrFallback) {
  constexpr std::size_t kSize = 100000;
  auto shm = SharedMemory::create_anonymous("huge", kSize, ShmOptions{.huge_pages = true});
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  ASSERT_GE(shm->size(), kSize);
  bytes_of(*shm)[0] = 1;
  bytes_of(*shm)[shm->size() - 1] = 2;
  EXPECT_EQ(::fcntl(shm->fd(), F_GET_SEALS) & F_SEAL_SHRINK, F_SEAL_SHRINK);
  const long free_pages = proc_value("/proc/meminfo", "HugePages_Free:");
  const long overcommit = proc_value("/proc/sys/vm/nr_overcommit_hugepages");
  if (free_pages == 0 && overcommit <= 0) {
    EXPECT_FALSE(shm->huge_pages()) << "no huge pages free, yet huge_pages() is true";
  }
  if (shm->huge_pages()) {
    EXPECT_EQ(shm->size() %
                  (static_cast<std::size_t>(proc_value("/proc/meminfo", "Hugepagesize:")) * 1024),
              0u);
  } else {
    EXPECT_EQ(shm->size(), kSize);
  }
}

TEST(ShmFromFd, MapsTheSameMemory) {
  auto a = SharedMemory::create_anonymous("same", 4096);
  ASSERT_TRUE(a.ok()) << a.error().message();
  auto b = SharedMemory::from_fd(::dup(a->fd()), 4096);
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_NE(a->data(), b->data());
  EXPECT_EQ(b->size(), 4096u);
  EXPECT_FALSE(b->huge_pages());
  bytes_of(*a)[100] = 42;
  EXPECT_EQ(bytes_of(*b)[100], 42);
  bytes_of(*b)[4095] = 7;
  EXPECT_EQ(bytes_of(*a)[4095], 7);
}

TEST(ShmFromFd, ForkedChildSharesMemory) {
  auto shm = SharedMemory::create_anonymous("fork", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  bytes_of(*shm)[0] = 'P';
  const int fd = shm->fd();
  const pid_t pid = test::fork_child([fd] {  // maps the inherited descriptor afresh
    auto child = SharedMemory::from_fd(::dup(fd), 4096);
    if (!child.ok()) return 2;
    if (bytes_of(*child)[0] != 'P') return 3;
    bytes_of(*child)[1] = 'C';
    return 0;
  });
  ASSERT_GE(pid, 0);
  EXPECT_EQ(test::wait_child(pid), 0);
  EXPECT_EQ(bytes_of(*shm)[1], 'C');
}

TEST(ShmFromFd, RejectsTooSmallAndClosesTheFd) {
  auto shm = SharedMemory::create_anonymous("small", 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  const int fd = ::dup(shm->fd());
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(fails_with(SharedMemory::from_fd(fd, 8192), Errc::invalid_argument,
                         "is 4096 bytes, expected at least 8192 bytes"));
  errno = 0;
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST(ShmFromFd, RejectsUnsealedMemfd) {
  const int fd = ::memfd_create("ferry-test-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  EXPECT_TRUE(fails_with(SharedMemory::from_fd(fd, 4096), Errc::permission, "F_SEAL_SHRINK"));
}

TEST(ShmFromFd, RejectsAMemfdSealedOnlyAgainstShrinking) {
  const int fd = ::memfd_create("ferry-test-grows", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
  EXPECT_TRUE(fails_with(SharedMemory::from_fd(fd, 4096), Errc::permission, "F_SEAL_GROW"));
}

// A file on a disk filesystem cannot carry seals: its owner could truncate it under us.
TEST(ShmFromFd, RejectsAFileThatCannotBeSealed) {
  char path[] = "ferry-test-file-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::unlink(path);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  EXPECT_TRUE(fails_with(SharedMemory::from_fd(fd, 4096), Errc::permission, "SIGBUS"));
}

// read_only_for_others: the creator writes, a receiver of the descriptor can only read.
TEST(ShmFromFd, ReadOnlyForOthersMapsOnlyReadOnly) {
  ShmOptions options;
  options.read_only_for_others = true;
  auto shm = SharedMemory::create_anonymous("ro", 4096, options);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  EXPECT_FALSE(SharedMemory::from_fd(::dup(shm->fd()), 4096).ok())
      << "a receiver could map it writable";
  auto reader = SharedMemory::from_fd(::dup(shm->fd()), 4096, ShmAccess::read_only);
  ASSERT_TRUE(reader.ok()) << reader.error().message();
  EXPECT_NE(::mprotect(reader->data(), reader->size(), PROT_READ | PROT_WRITE), 0)
      << "a receiver could make its mapping writable";
  bytes_of(*shm)[0] = 'W';
  EXPECT_EQ(static_cast<const char*>(reader->data())[0], 'W');
}

TEST(ShmNamed, HasMode0600WhateverTheUmask) {
  // umask 0 must not add bits to 0600; umask 0277 would leave 0400 without the fchmod.
  for (const mode_t mask : {mode_t{0}, mode_t{0277}}) {
    SCOPED_TRACE(::testing::Message() << "umask 0" << std::oct << mask);
    ShmName name(std::to_string(mask));
    const mode_t old_mask = ::umask(mask);
    auto shm = SharedMemory::create_named(name.str(), 8192);
    ::umask(old_mask);
    ASSERT_TRUE(shm.ok()) << shm.error().message();
    struct stat st {};
    ASSERT_EQ(::stat(name.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_EQ(st.st_size, 8192);
    EXPECT_EQ(shm->name(), name.str());
    EXPECT_TRUE(all_zero(*shm));

    auto opened = SharedMemory::open_named(name.str());
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    EXPECT_EQ(opened->size(), 8192u);
    bytes_of(*shm)[8191] = 9;
    EXPECT_EQ(bytes_of(*opened)[8191], 9);
  }
}

TEST(ShmNamed, CreateIsExclusive) {
  ShmName name;
  auto first = SharedMemory::create_named(name.str(), 4096);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(fails_with(SharedMemory::create_named(name.str(), 4096), Errc::exists, name.path()));
  EXPECT_EQ(::access(name.path().c_str(), F_OK), 0) << "the failed create removed the original";
}

TEST(ShmNamed, OpenRefusesGroupOrOtherAccess) {
  ShmName name;
  auto shm = SharedMemory::create_named(name.str(), 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  ASSERT_EQ(::fchmod(shm->fd(), 0644), 0);
  const auto opened = SharedMemory::open_named(name.str());
  EXPECT_TRUE(fails_with(opened, Errc::permission, "0644"));
  EXPECT_TRUE(fails_with(opened, Errc::permission, "chmod 600 " + name.path()));
}

TEST(ShmNamed, OpenRefusesAnotherOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to hand the object to another uid (fchown)";
  ShmName name;
  auto shm = SharedMemory::create_named(name.str(), 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  ASSERT_EQ(::fchown(shm->fd(), 65534, 65534), 0) << std::strerror(errno);
  EXPECT_TRUE(fails_with(SharedMemory::open_named(name.str()), Errc::permission, "uid 65534"));
}

TEST(ShmNamed, OpenReportsMissingAndEmpty) {
  ShmName name;
  EXPECT_TRUE(fails_with(SharedMemory::open_named(name.str()), Errc::not_found, name.path()));
  const int fd = ::shm_open(("/" + name.str()).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  EXPECT_TRUE(fails_with(SharedMemory::open_named(name.str()), Errc::not_found, "empty"));
}

TEST(ShmNamed, FullDevShmFailsCleanly) {
  struct statvfs fs {};
  ASSERT_EQ(::statvfs("/dev/shm", &fs), 0);
  // Without a size limit the request would really allocate; with one, tmpfs refuses at once.
  if (fs.f_blocks == 0) GTEST_SKIP() << "/dev/shm has no size limit";
  ShmName name;
  const std::size_t too_big = fs.f_blocks * fs.f_frsize * 2;
  EXPECT_TRUE(fails_with(SharedMemory::create_named(name.str(), too_big), Errc::no_memory,
                         "/dev/shm is full or too small (tmpfs size limit"));
  EXPECT_NE(::access(name.path().c_str(), F_OK), 0) << "left behind after a failed create";
}

TEST(ShmNamed, UnlinkRemoves) {
  ShmName name;
  auto shm = SharedMemory::create_named(name.str(), 4096);
  ASSERT_TRUE(shm.ok()) << shm.error().message();
  const auto removed = SharedMemory::unlink_named(name.str());
  ASSERT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_NE(::access(name.path().c_str(), F_OK), 0);
  EXPECT_TRUE(fails_with(SharedMemory::unlink_named(name.str()), Errc::not_found, name.path()));
}

TEST(ShmNamed, RejectsInvalidNames) {
  using namespace std::string_literals;
  for (const std::string& bad :
       {""s, "a/b"s, "/a"s, "."s, ".."s, "a b"s, "a\0b"s, std::string(201, 'a')}) {
    SCOPED_TRACE("name \"" + bad + "\"");
    EXPECT_TRUE(fails_with(SharedMemory::create_named(bad, 4096), Errc::invalid_argument,
                           "invalid shared-memory name"));
    EXPECT_TRUE(fails_with(SharedMemory::open_named(bad), Errc::invalid_argument));
    EXPECT_TRUE(fails_with(SharedMemory::unlink_named(bad), Errc::invalid_argument));
  }
}

TEST(ShmObjectName, FormatsAndValidates) {
  const std::string uid = std::to_string(::geteuid());
  auto name = shm_object_name("s-1", "ring_0");
  ASSERT_TRUE(name.ok()) << name.error().message();
  EXPECT_EQ(*name, "ferry." + uid + ".s-1.ring_0");

  // The longest parts still make a valid /dev/shm name.
  auto longest = shm_object_name(std::string(64, 's'), std::string(100, 'n'));
  ASSERT_TRUE(longest.ok()) << longest.error().message();
  EXPECT_TRUE(fails_with(SharedMemory::unlink_named(*longest), Errc::not_found));

  for (const std::string bad : {"", "a.b", "a/b", "a b"}) {
    EXPECT_TRUE(fails_with(shm_object_name(bad, "n"), Errc::invalid_argument, "invalid session"));
    EXPECT_TRUE(fails_with(shm_object_name("s", bad), Errc::invalid_argument, "invalid name"));
  }
  EXPECT_TRUE(fails_with(shm_object_name(std::string(65, 's'), "n"), Errc::invalid_argument,
                         "invalid session"));
  EXPECT_TRUE(fails_with(shm_object_name("s", std::string(101, 'n')), Errc::invalid_argument,
                         "invalid name"));
}

}  // namespace
}  // namespace ferry
