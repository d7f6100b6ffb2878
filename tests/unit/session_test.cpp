// SPDX-License-Identifier: Apache-2.0
// Unit tests for ferry/session.hpp: which session is used, the runtime directories (created
// 0700 whatever the umask, refused when a symlink, another owner's, or open to others) and
// endpoint socket paths. Real directories under a mkdtemp directory.
#include "ferry/session.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/assertions.hpp"

namespace ferry {
namespace {

using ferry::test::fails_with;

// Sets (or unsets, with nullopt) an environment variable for the life of the guard.
class EnvVar {
 public:
  EnvVar(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    set(value);
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;
  ~EnvVar() { set(old_); }

 private:
  void set(const std::optional<std::string>& value) {
    if (value) {
      ::setenv(name_, value->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  const char* name_;
  std::optional<std::string> old_;
};

class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;
  ~UmaskGuard() { ::umask(old_); }

 private:
  mode_t old_;
};

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

mode_t mode_of(const std::string& path) {
  return lstat_of(path).st_mode & 07777;
}

// A fresh directory that stands in for XDG_RUNTIME_DIR; removed with everything in it.
class SessionDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-session-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    runtime_ = tmpl;
    xdg_.emplace("XDG_RUNTIME_DIR", runtime_);
  }
  void TearDown() override {
    xdg_.reset();
    if (!runtime_.empty()) {
      const std::string cmd = "rm -rf '" + runtime_ + "'";
      EXPECT_EQ(std::system(cmd.c_str()), 0);
    }
  }

  std::string runtime_;
  std::optional<EnvVar> xdg_;
};

TEST(Names, SessionAndEndpointNamesAreCheckedWithTheRuleInTheError) {
  EXPECT_TRUE(check_session_name("A-z_09"));
  EXPECT_TRUE(check_endpoint_name(std::string(64, 'e')));
  EXPECT_TRUE(fails_with(check_endpoint_name("a/b"), Errc::invalid_argument,
                         "'a/b' is not a valid endpoint name: use 1-64 of A-Z a-z 0-9 _ -"));
  EXPECT_TRUE(fails_with(check_session_name(""), Errc::invalid_argument,
                         "'' is not a valid session name: use 1-64 of A-Z a-z 0-9 _ -"));
  EXPECT_TRUE(fails_with(check_session_name(std::string(65, 's')), Errc::invalid_argument));
  EXPECT_TRUE(fails_with(check_endpoint_name("a.b"), Errc::invalid_argument, "'a.b'"));
}

TEST(ResolveSession, FollowsTheDocumentedOrder) {
  EnvVar ferry("FERRY_SESSION", "from-ferry");
  EnvVar xdg("XDG_SESSION_ID", "from_xdg");
  EXPECT_EQ(resolve_session("explicit").value(), "explicit");
  EXPECT_EQ(resolve_session().value(), "from-ferry");
  {
    EnvVar unset("FERRY_SESSION", std::nullopt);
    EXPECT_EQ(resolve_session().value(), "from_xdg");
  }
  {
    EnvVar empty("FERRY_SESSION", "");  // empty counts as unset
    EXPECT_EQ(resolve_session().value(), "from_xdg");
  }
}

TEST(ResolveSession, FallsBackToTheAuditSessionThenDefault) {
  EnvVar ferry("FERRY_SESSION", std::nullopt);
  EnvVar xdg("XDG_SESSION_ID", std::nullopt);
  std::string audit;
  std::ifstream("/proc/self/sessionid") >> audit;
  const std::string expected = audit.empty() || audit == "4294967295" ? "default" : audit;
  EXPECT_EQ(resolve_session().value(), expected);
}

TEST(ResolveSession, RejectsInvalidNamesSayingWhereTheyCameFrom) {
  {
    EnvVar ferry("FERRY_SESSION", "a/b");
    EXPECT_TRUE(fails_with(resolve_session(), Errc::invalid_argument,
                           "FERRY_SESSION='a/b' is not a valid session name: use 1-64 of A-Z "
                           "a-z 0-9 _ -"));
    // An explicit name wins, and is checked on its own.
    EXPECT_EQ(resolve_session("ok").value(), "ok");
  }
  {
    EnvVar ferry("FERRY_SESSION", std::nullopt);
    EnvVar xdg("XDG_SESSION_ID", "..");
    EXPECT_TRUE(fails_with(resolve_session(), Errc::invalid_argument, "XDG_SESSION_ID='..'"));
  }
  EXPECT_TRUE(fails_with(resolve_session("x y"), Errc::invalid_argument, "session 'x y'"));
  EXPECT_TRUE(fails_with(resolve_session("a.b"), Errc::invalid_argument, "'a.b'"));
  EXPECT_TRUE(fails_with(resolve_session("tab\there"), Errc::invalid_argument, "'tab?here'"));
  EXPECT_TRUE(fails_with(resolve_session(std::string(65, 's')), Errc::invalid_argument));
  EXPECT_EQ(resolve_session(std::string(64, 's')).value(), std::string(64, 's'));
  EXPECT_EQ(resolve_session("A-z_09").value(), "A-z_09");
}

TEST_F(SessionDirTest, CreatesBothDirectories0700WhateverTheUmask) {
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0777}}) {
    SCOPED_TRACE(mask);
    UmaskGuard umask(mask);
    const std::string session = "s" + std::to_string(mask);
    auto dir = session_dir(session, true);
    ASSERT_TRUE(dir.ok()) << dir.error().message();
    EXPECT_EQ(*dir, runtime_ + "/ferry/" + session);
    EXPECT_TRUE(S_ISDIR(lstat_of(*dir).st_mode));
    EXPECT_EQ(mode_of(*dir), 0700u);
    EXPECT_EQ(lstat_of(*dir).st_uid, ::geteuid());
    EXPECT_EQ(mode_of(runtime_ + "/ferry"), 0700u);
    // Again: existing and correct is fine, with and without create.
    EXPECT_EQ(session_dir(session, true).value(), *dir);
    EXPECT_EQ(session_dir(session, false).value(), *dir);
  }
}

TEST_F(SessionDirTest, MissingWithoutCreateIsNotFound) {
  EXPECT_TRUE(fails_with(session_dir("s", false), Errc::not_found, runtime_ + "/ferry"));
  ASSERT_TRUE(session_dir("other", true).ok());
  EXPECT_TRUE(fails_with(session_dir("s", false), Errc::not_found, runtime_ + "/ferry/s"));
}

TEST_F(SessionDirTest, ListsTheSessionsWithADirectoryAndNothingElse) {
  EXPECT_TRUE(list_sessions().value().empty()) << "no base directory: no sessions";
  ASSERT_TRUE(session_dir("b", true).ok());
  ASSERT_TRUE(session_dir("a", true).ok());
  const std::string base = runtime_ + "/ferry";
  ASSERT_EQ(::mkdir((base + "/not a name").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((base + "/open").c_str(), 0755), 0);
  ASSERT_EQ(::chmod((base + "/open").c_str(), 0755), 0);  // whatever the umask
  ASSERT_EQ(::close(::open((base + "/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)), 0);
  ASSERT_EQ(::symlink((base + "/a").c_str(), (base + "/link").c_str()), 0);
  EXPECT_EQ(list_sessions().value(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(SessionDirTest, RejectsAnInvalidSession) {
  EXPECT_TRUE(fails_with(session_dir("../x", true), Errc::invalid_argument, "'../x'"));
  EXPECT_TRUE(fails_with(session_dir("", true), Errc::invalid_argument));
}

TEST_F(SessionDirTest, RefusesADirectoryOpenToOthersAndLeavesItsMode) {
  const std::string base = runtime_ + "/ferry";
  ASSERT_EQ(::mkdir(base.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(base.c_str(), 0755), 0);
  EXPECT_TRUE(fails_with(session_dir("s", true), Errc::permission,
                         base + " has mode 0755; ferry needs 0700 (chmod 700 " + base + ")"));
  EXPECT_EQ(mode_of(base), 0755u);  // never chmod

  ASSERT_EQ(::chmod(base.c_str(), 0700), 0);
  const std::string dir = base + "/s";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0710), 0);
  EXPECT_TRUE(fails_with(session_dir("s", false), Errc::permission, dir + " has mode 0710"));
  EXPECT_EQ(mode_of(dir), 0710u);
}

TEST_F(SessionDirTest, RefusesASymlink) {
  const std::string target = runtime_ + "/elsewhere";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  const std::string base = runtime_ + "/ferry";
  ASSERT_EQ(::symlink(target.c_str(), base.c_str()), 0);
  EXPECT_TRUE(fails_with(session_dir("s", true), Errc::permission,
                         base + " is a symlink; ferry refuses it: remove it"));
  // Nothing was created through the link.
  struct stat st {};
  EXPECT_NE(::lstat((target + "/s").c_str(), &st), 0);

  ASSERT_EQ(::unlink(base.c_str()), 0);
  ASSERT_EQ(::mkdir(base.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), (base + "/s").c_str()), 0);
  EXPECT_TRUE(fails_with(session_dir("s", false), Errc::permission, base + "/s is a symlink"));
}

TEST_F(SessionDirTest, RefusesAFileWhereTheDirectoryGoes) {
  const std::string base = runtime_ + "/ferry";
  std::ofstream(base) << "x";
  EXPECT_TRUE(fails_with(session_dir("s", true), Errc::permission, base + " is not a directory"));
}

TEST_F(SessionDirTest, RefusesADirectoryOfAnotherOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown a directory to another user";
  const std::string base = runtime_ + "/ferry";
  ASSERT_EQ(::mkdir(base.c_str(), 0700), 0);
  ASSERT_EQ(::chown(base.c_str(), 65534, 65534), 0);
  EXPECT_TRUE(fails_with(session_dir("s", true), Errc::permission,
                         base + " is owned by uid 65534, not by you (uid 0): remove it or set "
                                "XDG_RUNTIME_DIR"));

  ASSERT_EQ(::chown(base.c_str(), 0, 0), 0);
  const std::string dir = base + "/s";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  EXPECT_TRUE(
      fails_with(session_dir("s", false), Errc::permission, dir + " is owned by uid 65534"));
}

// XDG_RUNTIME_DIR unset, relative, missing or not a directory: /tmp/ferry-<uid>. This uses
// the real /tmp/ferry-<uid> and removes only what it created.
TEST(SessionDir, FallsBackToTmpWithoutAUsableXdgRuntimeDir) {
  const std::string base = "/tmp/ferry-" + std::to_string(::geteuid());
  struct stat st {};
  const bool base_existed = ::lstat(base.c_str(), &st) == 0;
  const std::string session = "unit-" + std::to_string(::getpid());
  const std::string expected = base + "/" + session;

  const std::optional<std::string> values[] = {std::nullopt, "", "relative/dir",
                                               "/nonexistent/ferry-test", "/proc/self/status"};
  for (const auto& value : values) {
    SCOPED_TRACE(value.value_or("(unset)"));
    EnvVar xdg("XDG_RUNTIME_DIR", value);
    auto dir = session_dir(session, true);
    ASSERT_TRUE(dir.ok()) << dir.error().message();
    EXPECT_EQ(*dir, expected);
    EXPECT_EQ(mode_of(expected), 0700u);
    EXPECT_EQ(mode_of(base), 0700u);
    EXPECT_EQ(::rmdir(expected.c_str()), 0);
  }
  // Another process may have started using it meanwhile: then it stays.
  if (!base_existed) ::rmdir(base.c_str());
}

TEST(EndpointSocketPath, JoinsDirAndName) {
  EXPECT_EQ(endpoint_socket_path("/run/user/1000/ferry/3", "bus").value(),
            "/run/user/1000/ferry/3/bus.sock");
  EXPECT_EQ(endpoint_socket_path("/d", std::string(64, 'e')).value(),
            "/d/" + std::string(64, 'e') + ".sock");
}

TEST(EndpointSocketPath, RejectsInvalidEndpointNames) {
  for (const std::string& name :
       std::vector<std::string>{"", "a/b", "..", "a.b", "sp ace", std::string(65, 'e')}) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(
        fails_with(endpoint_socket_path("/some/dir", name), Errc::invalid_argument, "/some/dir"));
  }
}

TEST(EndpointSocketPath, RejectsAPathThatDoesNotFitASockaddr) {
  // "/" + dir + "/" + "e.sock": 107 bytes fit, 108 do not.
  const std::string dir100 = "/" + std::string(99, 'd');
  const std::string fits = dir100 + "/" + std::string(1, 'e') + ".sock";
  ASSERT_EQ(fits.size(), 107u);
  EXPECT_EQ(endpoint_socket_path(dir100, "e").value(), fits);
  const auto too_long = endpoint_socket_path(dir100, "ee");
  EXPECT_TRUE(fails_with(too_long, Errc::invalid_argument, dir100 + "/ee.sock"));
  EXPECT_TRUE(fails_with(too_long, Errc::invalid_argument, "'ee'"));
  EXPECT_TRUE(fails_with(too_long, Errc::invalid_argument, "108 bytes"));
  EXPECT_TRUE(fails_with(too_long, Errc::invalid_argument, "at most 107"));
}

}  // namespace
}  // namespace ferry
