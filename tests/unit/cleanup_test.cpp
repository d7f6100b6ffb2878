// SPDX-License-Identifier: Apache-2.0
// Stale objects: a dead owner's socket, lock file and named segment are removed, a live
// owner's never; a server killed with SIGKILL is replaced at once by the next one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "control/owner_lock.hpp"
#include "control/unix_socket.hpp"
#include "ferry/server.hpp"
#include "ferry/session.hpp"
#include "ferry/shm.hpp"
#include "support/endpoint_support.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool contains(const std::vector<std::string>& list, const std::string& needle) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& s) { return s.find(needle) != std::string::npos; });
}

// Runs a server for `endpoint` and a named segment of the same name in a child, which dies
// by SIGKILL with both in place.
void die_holding(const std::string& endpoint) {
  const pid_t pid = test::fork_child([&endpoint] {
    ServerOptions o;
    o.endpoint = endpoint;
    auto s = Server::create(o);
    auto name = shm_object_name("test", endpoint);
    auto seg = name ? SharedMemory::create_named(*name, 4096) : Result<SharedMemory>(name.error());
    if (!s || !seg) return 1;
    ::kill(::getpid(), SIGKILL);
    return 2;
  });
  ASSERT_GE(pid, 0);
  const int status = test::wait_child(pid);
  ASSERT_EQ(status, 128 + SIGKILL) << "the child failed to set up (exit " << status << ")";
}

// A child process that holds the owner lock at `path` until release() or destruction.
class LockHoldingChild {
 public:
  explicit LockHoldingChild(const std::string& path) {
    if (::pipe(to_parent_) != 0 || ::pipe(to_child_) != 0) return;
    pid_ = test::fork_child([&] {
      auto lock = detail::OwnerLock::acquire(path);
      char c = lock ? 'y' : 'n';
      (void)::write(to_parent_[1], &c, 1);
      (void)::read(to_child_[0], &c, 1);  // hold it until told
      return 0;
    });
    char c = 0;
    ok_ = ::read(to_parent_[0], &c, 1) == 1 && c == 'y';
  }
  ~LockHoldingChild() {
    release();
    for (int fd : {to_parent_[0], to_parent_[1], to_child_[0], to_child_[1]}) ::close(fd);
  }
  LockHoldingChild(const LockHoldingChild&) = delete;
  LockHoldingChild& operator=(const LockHoldingChild&) = delete;

  bool ok() const { return ok_; }
  pid_t pid() const { return pid_; }
  void release() {
    if (pid_ <= 0) return;
    (void)::write(to_child_[1], "x", 1);
    test::wait_child(pid_);
    pid_ = -1;
  }

 private:
  int to_parent_[2] = {-1, -1};
  int to_child_[2] = {-1, -1};
  pid_t pid_ = -1;
  bool ok_ = false;
};

TEST(Cleanup, DeadOwnersObjectsGoLiveOwnersStay) {
  test::ScopedSession session;
  die_holding("dead");
  ServerOptions o;
  o.endpoint = "alive";
  auto live = Server::create(o);
  ASSERT_TRUE(live) << live.error().message();
  auto live_name = shm_object_name("test", "alive");
  auto live_seg = SharedMemory::create_named(*live_name, 4096);
  ASSERT_TRUE(live_seg);
  auto unowned_name = shm_object_name("test", "unowned");
  auto unowned = SharedMemory::create_named(*unowned_name, 4096);
  ASSERT_TRUE(unowned);

  auto dir = session_dir("test", false);
  ASSERT_TRUE(dir);
  const std::string dead_sock = *dir + "/dead.sock";
  const std::string dead_lock = *dir + "/dead.lock";
  const std::string dead_seg = "/dev/shm/" + *shm_object_name("test", "dead");
  ASSERT_TRUE(exists(dead_sock) && exists(dead_lock) && exists(dead_seg));

  auto report = cleanup_session("test");
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_FALSE(exists(dead_sock));
  EXPECT_FALSE(exists(dead_lock));
  EXPECT_FALSE(exists(dead_seg));
  EXPECT_TRUE(contains(report->removed, dead_sock));
  EXPECT_TRUE(contains(report->removed, dead_lock));
  EXPECT_TRUE(contains(report->removed, dead_seg));
  // The live server's objects, and a segment nobody claims, stay.
  EXPECT_TRUE(exists(live->socket_path()));
  EXPECT_TRUE(exists(*dir + "/alive.lock"));
  EXPECT_TRUE(exists("/dev/shm/" + *live_name));
  EXPECT_TRUE(contains(report->alive, *dir + "/alive.lock (pid " + std::to_string(::getpid())));
  EXPECT_TRUE(contains(report->unowned, *unowned_name));
  EXPECT_TRUE(exists("/dev/shm/" + *unowned_name));
  EXPECT_EQ(report->removed.size(), 3u);

  // A second run finds nothing more to do.
  auto again = cleanup_session("test");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->removed.empty());
  (void)SharedMemory::unlink_named(*live_name);
  (void)SharedMemory::unlink_named(*unowned_name);
}

TEST(Cleanup, ASocketWithoutLockIsRemovedOnlyWhenNobodyListens) {
  test::ScopedSession session;
  ServerOptions o;
  o.endpoint = "old";
  std::string sock;
  std::string keep;
  {
    auto s = Server::create(o);
    ASSERT_TRUE(s);
    auto dir = session_dir("test", false);
    sock = *dir + "/old.sock";
    // A listening socket whose lock file was lost: it still answers, so it stays.
    std::filesystem::remove(*dir + "/old.lock");
    auto r = cleanup_session("test");
    ASSERT_TRUE(r);
    EXPECT_TRUE(exists(sock));
    keep = sock + ".keep";
    ASSERT_EQ(::link(sock.c_str(), keep.c_str()), 0);  // survives the server's own unlink
  }
  // Its server gone without a trace of a lock: nobody listens, so it goes.
  ASSERT_EQ(::rename(keep.c_str(), sock.c_str()), 0);
  auto r = cleanup_session("test");
  ASSERT_TRUE(r);
  EXPECT_FALSE(exists(sock));
  EXPECT_TRUE(contains(r->removed, sock));
}

// A socket under a temporary name that nobody listens on (its process was killed before it
// renamed the socket into place) goes; one that listens (a server about to publish) stays.
// Neither is taken for an endpoint.
TEST(Cleanup, AStaleTemporarySocketGoesALiveOneStays) {
  test::ScopedSession session;
  auto dir = session_dir("test", true);
  ASSERT_TRUE(dir) << dir.error().message();
  const std::string stale = *dir + "/" + detail::temporary_socket_name(1, 0);
  const std::string live = *dir + "/" + detail::temporary_socket_name(1, 1);
  ASSERT_TRUE(detail::listen_seqpacket(stale, 1));  // closed at once: nobody listens on it
  auto listening = detail::listen_seqpacket(live, 1);
  ASSERT_TRUE(listening);
  auto report = cleanup_session("test");
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_FALSE(exists(stale));
  EXPECT_TRUE(exists(live));
  EXPECT_EQ(report->removed, std::vector<std::string>{stale});
  EXPECT_TRUE(report->alive.empty());
}

// A clean-up (another process's start-up) running while a server starts never removes the
// server's socket: it never finds it bound but not listening yet, which looks like a dead
// server's. No owner lock here, so only the way the socket is published protects it; a
// temporary name the clean-up removes before listen() makes the server bind another.
TEST(Cleanup, NeverRemovesTheSocketOfAServerThatIsStarting) {
  test::ScopedSession session;
  auto dir = session_dir("test", true);
  ASSERT_TRUE(dir) << dir.error().message();
  const std::string path = *dir + "/starting.sock";
  std::atomic<bool> done{false};
  std::thread cleaner([&] {
    while (!done) (void)cleanup_session("test");
  });
  for (int round = 0; round < 300; ++round) {
    // A large backlog: the clean-up's probes queue up there, never accepted.
    auto listener = detail::listen_seqpacket(path, 4096);
    ASSERT_TRUE(listener) << "round " << round << ": " << listener.error().message();
    auto client = detail::connect_seqpacket(path, std::chrono::milliseconds(0));
    EXPECT_TRUE(client) << "round " << round << ": " << client.error().message();
    if (!client) break;
    ::unlink(path.c_str());  // as a server that stops
  }
  done = true;
  cleaner.join();
}

TEST(Cleanup, ANewServerReplacesOneKilledWithSigkill) {
  test::ScopedSession session;
  die_holding("bus");
  ServerOptions o;
  auto s = Server::create(o);
  ASSERT_TRUE(s) << s.error().message();
  // And while it lives, a second one is refused, naming the live owner.
  auto second = Server::create(o);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.code(), Errc::exists);
  EXPECT_NE(second.error().message().find("pid " + std::to_string(::getpid())), std::string::npos)
      << second.error().message();
  (void)SharedMemory::unlink_named(*shm_object_name("test", "bus"));
}

TEST(Cleanup, OwnerLockIsExclusiveAcrossProcessesAndDiesWithItsOwner) {
  test::ScopedSession session;
  const std::string path = session.dir() + "/x.lock";
  LockHoldingChild child(path);
  ASSERT_TRUE(child.ok());
  auto claim = detail::OwnerLock::claim_if_dead(path);
  ASSERT_TRUE(claim);
  EXPECT_FALSE(*claim);  // alive
  auto mine = detail::OwnerLock::acquire(path);
  ASSERT_FALSE(mine);
  EXPECT_NE(mine.error().message().find("pid " + std::to_string(child.pid())), std::string::npos)
      << mine.error().message();
  child.release();
  claim = detail::OwnerLock::claim_if_dead(path);
  ASSERT_TRUE(claim);
  EXPECT_TRUE(*claim);  // its owner exited: the lock went with it
}

// The pid named for a live lock is the holder's, whatever the file says: here the pid of a
// process that has exited (as when the holder has not written its own yet, or the process
// that wrote it died and left the lock to a child it forked).
TEST(Cleanup, TheLivePidNamedIsTheLockHoldersNotThePidInTheFile) {
  test::ScopedSession session;
  auto dir = session_dir("test", true);
  ASSERT_TRUE(dir) << dir.error().message();
  const std::string path = *dir + "/held.lock";
  LockHoldingChild holder(path);
  ASSERT_TRUE(holder.ok());
  const pid_t dead = test::fork_child([] { return 0; });
  ASSERT_EQ(test::wait_child(dead), 0);
  std::ofstream(path) << dead << "\n";

  auto report = cleanup_session("test");
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->alive,
            std::vector<std::string>{path + " (pid " + std::to_string(holder.pid()) + ")"});
  auto mine = detail::OwnerLock::acquire(path);
  ASSERT_FALSE(mine);
  EXPECT_NE(mine.error().message().find("(pid " + std::to_string(holder.pid()) + ")"),
            std::string::npos)
      << mine.error().message();
  EXPECT_EQ(mine.error().message().find(std::to_string(dead)), std::string::npos)
      << mine.error().message();
}

// A lock file ferry cannot use (a directory, a symlink, one it may not open) is reported and
// its endpoint left alone; the rest of the session is cleaned up all the same.
TEST(Cleanup, ABadLockFileIsReportedAndTheRestIsCleanedUp) {
  test::ScopedSession session;
  die_holding("dead");
  auto dir = session_dir("test", false);
  ASSERT_TRUE(dir) << dir.error().message();
  std::vector<std::string> bad = {*dir + "/adir.lock", *dir + "/alink.lock"};
  ASSERT_EQ(::mkdir(bad[0].c_str(), 0700), 0);
  ASSERT_EQ(::symlink("elsewhere", bad[1].c_str()), 0);
  if (::geteuid() != 0) {  // root may open any file
    bad.push_back(*dir + "/closed.lock");
    std::ofstream(bad[2]) << "1\n";
    ASSERT_EQ(::chmod(bad[2].c_str(), 0), 0);
  }

  auto report = cleanup_session("test");
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_FALSE(exists(*dir + "/dead.sock"));
  EXPECT_FALSE(exists(*dir + "/dead.lock"));
  EXPECT_EQ(report->removed.size(), 3u);
  ASSERT_EQ(report->problems.size(), bad.size());
  for (const std::string& path : bad) {
    EXPECT_TRUE(contains(report->problems, path)) << path;
    EXPECT_TRUE(exists(path)) << path;
  }
  EXPECT_TRUE(contains(report->problems, "a directory"));
  EXPECT_TRUE(contains(report->problems, "is a symlink"));
  if (bad.size() > 2) {
    EXPECT_TRUE(contains(report->problems, "Permission denied"));
  }
}

}  // namespace
}  // namespace ferry
