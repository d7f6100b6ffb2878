// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/control/unix_socket.hpp: listening (mode 0600, stale sockets replaced,
// live servers and other files left alone), connecting (errors that name the path, a full
// backlog), descriptor passing, truncation, timeouts, peer credentials and the fd limit.
// Real sockets in a mkdtemp directory.
#include "control/unix_socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/assertions.hpp"

namespace ferry::detail {
namespace {

using std::chrono::milliseconds;

using ferry::test::fails_with;

std::span<const std::byte> bytes_of(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// The names in `dir`, sorted.
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A socket file nobody listens on, as a crashed server leaves behind.
void make_stale_socket(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET, 0);
  ASSERT_GE(fd, 0);
  const sockaddr_un addr = unix_address(path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
}

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ferry-socket-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/ep.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A listening server and one accepted client connection.
  struct Pair {
    UniqueFd listener, client, server;
  };
  Pair connected_pair() {
    Pair p;
    p.listener = listen_seqpacket(path_, 16).value();
    p.client = connect_seqpacket(path_, milliseconds(1000)).value();
    p.server = accept_connection(p.listener.get()).value();
    return p;
  }

  std::string dir_;
  std::string path_;
};

TEST(UniqueFd, ClosesAndMoves) {
  int raw = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(b.get(), raw);
    UniqueFd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed once, by c
  UniqueFd d(::eventfd(0, EFD_CLOEXEC));
  EXPECT_EQ(d.release() >= 0, true);
}

TEST_F(UnixSocketTest, PassesBytesAndWorkingDescriptors) {
  const mode_t old_mask = ::umask(0);  // the socket is 0600 even so
  auto listener = listen_seqpacket(path_, 16);
  ::umask(old_mask);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(::fcntl(listener->get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(listener->get(), F_GETFD) & FD_CLOEXEC, 0);

  EXPECT_EQ(accept_connection(listener->get()).code(), Errc::would_block);
  auto client = connect_seqpacket(path_, milliseconds(1000));
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ(::fcntl(client->get(), F_GETFL) & O_NONBLOCK, 0);  // blocking
  EXPECT_NE(::fcntl(client->get(), F_GETFD) & FD_CLOEXEC, 0);
  auto server = accept_connection(listener->get());
  ASSERT_TRUE(server.ok()) << server.error().message();
  EXPECT_NE(::fcntl(server->get(), F_GETFD) & FD_CLOEXEC, 0);

  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  UniqueFd mem(::memfd_create("ferry-unit", MFD_CLOEXEC));
  ASSERT_TRUE(event && mem);
  ASSERT_EQ(::ftruncate(mem.get(), 4096), 0);
  const std::array<int, 2> fds = {event.get(), mem.get()};
  ASSERT_TRUE(send_message(client->get(), bytes_of("hello"), fds).ok());

  std::array<std::byte, 64> buf{};
  auto got = recv_message(server->get(), buf, milliseconds(1000));
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->size, 5u);
  EXPECT_EQ(std::memcmp(buf.data(), "hello", 5), 0);
  ASSERT_EQ(got->fds.size(), 2u);
  for (const auto& fd : got->fds) EXPECT_NE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);

  // The eventfd: a write on the received one is read on ours.
  const std::uint64_t one = 7;
  ASSERT_EQ(::write(got->fds[0].get(), &one, sizeof one), 8);
  std::uint64_t value = 0;
  ASSERT_EQ(::read(event.get(), &value, sizeof value), 8);
  EXPECT_EQ(value, 7u);

  // The memfd: both map the same pages.
  void* ours = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mem.get(), 0);
  void* theirs = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, got->fds[1].get(), 0);
  ASSERT_NE(ours, MAP_FAILED);
  ASSERT_NE(theirs, MAP_FAILED);
  std::memcpy(ours, "shared", 7);
  EXPECT_STREQ(static_cast<const char*>(theirs), "shared");
  ::munmap(ours, 4096);
  ::munmap(theirs, 4096);

  // And back the other way, without descriptors.
  ASSERT_TRUE(send_message(server->get(), bytes_of("welcome")).ok());
  auto back = recv_message(client->get(), buf, milliseconds(1000));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->size, 7u);
  EXPECT_TRUE(back->fds.empty());
}

TEST_F(UnixSocketTest, ReplacesAStaleSocket) {
  make_stale_socket(path_);
  auto listener = listen_seqpacket(path_, 16);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  auto client = connect_seqpacket(path_, milliseconds(1000));
  EXPECT_TRUE(client.ok()) << client.error().message();
}

// A client that connects in a loop the instant the path exists is never refused: the file
// appears only once the socket listens. The window it looks for (between bind() and
// listen()) is a few microseconds, hence many rounds.
TEST_F(UnixSocketTest, TheSocketFileAppearsOnlyOnceItListens) {
  const sockaddr_un addr = unix_address(path_);
  for (int round = 0; round < 200; ++round) {
    std::atomic<bool> started{false};
    std::atomic<bool> give_up{false};
    std::atomic<int> outcome{-1};  // 0: connected; else the errno of the first other failure
    std::thread client([&] {
      const UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
      started = true;
      while (!give_up) {
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
          outcome = 0;
          return;
        }
        if (errno != ENOENT && errno != EINTR) {
          outcome = errno;
          return;
        }
      }
    });
    while (!started) std::this_thread::yield();
    auto listener = listen_seqpacket(path_, 16);
    if (!listener) give_up = true;
    client.join();
    ASSERT_TRUE(listener.ok()) << listener.error().message();
    ASSERT_EQ(outcome.load(), 0) << "round " << round << ": a connect to " << path_
                                 << " as soon as it existed failed: "
                                 << std::strerror(outcome.load());
    ASSERT_EQ(::unlink(path_.c_str()), 0);
  }
}

// Whether listening succeeded or was refused (a live server, a file that is not a socket),
// the directory holds no temporary name afterwards.
TEST_F(UnixSocketTest, NoTemporaryNameIsLeftBehind) {
  auto first = listen_seqpacket(path_, 16);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(fails_with(listen_seqpacket(path_, 16), Errc::exists));
  const std::string file = dir_ + "/file.sock";
  std::ofstream(file) << "x";
  EXPECT_TRUE(fails_with(listen_seqpacket(file, 16), Errc::exists));
  EXPECT_EQ(names_in(dir_), (std::vector<std::string>{"ep.sock", "file.sock"}));
}

// A path of the longest length a sockaddr_un holds (107 bytes): the longer temporary name
// beside it is bound through the directory's descriptor, and the socket works.
TEST_F(UnixSocketTest, APathOfTheLongestLengthWorks) {
  const std::string dir = dir_ + "/" + std::string(100 - dir_.size() - 1, 'd');
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string path = dir + "/e.sock";
  ASSERT_EQ(path.size(), 107u);
  auto listener = listen_seqpacket(path, 16);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto client = connect_seqpacket(path, milliseconds(1000));
  EXPECT_TRUE(client.ok()) << client.error().message();
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"e.sock"});
}

TEST(TemporarySocketName, IsNeverAnEndpointOrLockName) {
  const std::string name = temporary_socket_name(1234, 7);
  EXPECT_EQ(name, ".ferry-tmp.1234.7");
  EXPECT_TRUE(is_temporary_socket_name(name));
  for (const char* other : {"bus.sock", "bus.lock", ".ferry-tmp.", ".ferry-tmp.12", ".ferry-tmp.1.",
                            ".ferry-tmp.1.2.sock", ".ferry-tmp.a.1", "x.ferry-tmp.1.2"}) {
    EXPECT_FALSE(is_temporary_socket_name(other)) << other;
  }
}

TEST_F(UnixSocketTest, LeavesALiveServerAlone) {
  auto first = listen_seqpacket(path_, 16);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(fails_with(listen_seqpacket(path_, 16), Errc::exists,
                         "another server is already listening at " + path_));
  // The first one still works.
  auto client = connect_seqpacket(path_, milliseconds(1000));
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_TRUE(accept_connection(first->get()).ok());
}

TEST_F(UnixSocketTest, NeverRemovesAFileThatIsNotASocket) {
  std::ofstream(path_) << "precious";
  EXPECT_TRUE(
      fails_with(listen_seqpacket(path_, 16), Errc::exists, path_ + " exists and is not a socket"));
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
  // Connecting to it says what it is.
  EXPECT_TRUE(fails_with(connect_seqpacket(path_, milliseconds(100)), Errc::not_found,
                         path_ + " is not a socket"));
}

TEST_F(UnixSocketTest, ConnectToNothingNamesThePath) {
  EXPECT_TRUE(fails_with(connect_seqpacket(path_, milliseconds(100)), Errc::not_found,
                         "no ferry endpoint at " + path_ + ": is the server running"));
}

TEST_F(UnixSocketTest, ConnectToAStaleSocketSaysTheServerExited) {
  make_stale_socket(path_);
  EXPECT_TRUE(fails_with(connect_seqpacket(path_, milliseconds(100)), Errc::not_found,
                         "nothing is listening at " + path_ + ": its server has exited"));
}

TEST_F(UnixSocketTest, ConnectTimesOutWhileTheBacklogIsFull) {
  auto listener = listen_seqpacket(path_, 0);
  ASSERT_TRUE(listener.ok());
  // Fill the backlog with connections nobody accepts.
  std::vector<UniqueFd> queued;
  for (int i = 0; i < 64; ++i) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ASSERT_EQ(errno, EAGAIN);
      break;
    }
    queued.push_back(std::move(fd));
  }
  ASSERT_LT(queued.size(), 64u);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(fails_with(connect_seqpacket(path_, milliseconds(100)), Errc::timed_out, path_));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(100));
  // Once the server accepts, there is room again.
  auto accepted = accept_connection(listener->get());
  ASSERT_TRUE(accepted.ok());
  EXPECT_TRUE(connect_seqpacket(path_, milliseconds(1000)).ok());
}

TEST_F(UnixSocketTest, RejectsAPathTooLongForASockaddr) {
  const std::string path = "/tmp/" + std::string(120, 'x');
  EXPECT_TRUE(fails_with(listen_seqpacket(path, 1), Errc::invalid_argument, path));
  EXPECT_TRUE(fails_with(connect_seqpacket(path, milliseconds(1)), Errc::invalid_argument, path));
}

TEST_F(UnixSocketTest, RecvTimesOutOrWouldBlock) {
  auto p = connected_pair();
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(recv_message(p.server.get(), buf, milliseconds(0)).code(), Errc::would_block);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(recv_message(p.server.get(), buf, milliseconds(50)).code(), Errc::timed_out);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(50));
  // Huge and negative timeouts wait without end (and do not overflow the deadline).
  ASSERT_TRUE(send_message(p.client.get(), bytes_of("a")).ok());
  ASSERT_TRUE(send_message(p.client.get(), bytes_of("b")).ok());
  EXPECT_TRUE(recv_message(p.server.get(), buf, milliseconds::max()).ok());
  EXPECT_TRUE(recv_message(p.server.get(), buf, milliseconds(-1)).ok());
}

TEST_F(UnixSocketTest, PeerClosedIsDisconnected) {
  auto p = connected_pair();
  p.client.reset();
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(recv_message(p.server.get(), buf, milliseconds(1000)).code(), Errc::disconnected);
  // Sending to a closed peer is an error, not SIGPIPE.
  EXPECT_EQ(send_message(p.server.get(), bytes_of("x")).code(), Errc::disconnected);
}

TEST_F(UnixSocketTest, TooLongMessageIsBadLengthAndClosesItsDescriptors) {
  auto p = connected_pair();
  UniqueFd event(::eventfd(0, EFD_CLOEXEC));
  const std::array<int, 1> fds = {event.get()};
  const std::string big(100, 'b');
  ASSERT_TRUE(send_message(p.client.get(), bytes_of(big), fds).ok());
  const std::size_t before = open_fd_count();
  std::array<std::byte, 10> small{};
  EXPECT_TRUE(fails_with(recv_message(p.server.get(), small, milliseconds(1000)), Errc::bad_length,
                         "100 bytes"));
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(UnixSocketTest, TooManyDescriptorsIsBadLengthAndClosesThem) {
  auto p = connected_pair();
  std::vector<UniqueFd> owned;
  std::vector<int> fds;
  for (std::size_t i = 0; i < kMaxFds + 2; ++i) {
    owned.emplace_back(::eventfd(0, EFD_CLOEXEC));
    fds.push_back(owned.back().get());
  }
  EXPECT_EQ(send_message(p.client.get(), bytes_of("x"), fds).code(), Errc::invalid_argument);

  // Sent past send_message's check, as a misbehaving peer would.
  char byte = 'x';
  iovec iov{&byte, 1};
  std::vector<unsigned char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  ASSERT_EQ(::sendmsg(p.client.get(), &msg, 0), 1);

  const std::size_t before = open_fd_count();
  std::array<std::byte, 16> buf{};
  EXPECT_TRUE(fails_with(recv_message(p.server.get(), buf, milliseconds(1000)), Errc::bad_length,
                         "descriptors"));
  EXPECT_EQ(open_fd_count(), before);
}

TEST_F(UnixSocketTest, SendRejectsAnEmptyMessage) {
  auto p = connected_pair();
  EXPECT_EQ(send_message(p.client.get(), {}).code(), Errc::invalid_argument);
}

TEST_F(UnixSocketTest, PeerCredentialsAreOurs) {
  auto p = connected_pair();
  for (const int fd : {p.client.get(), p.server.get()}) {
    auto creds = peer_credentials(fd);
    ASSERT_TRUE(creds.ok()) << creds.error().message();
    EXPECT_EQ(creds->pid, ::getpid());
    EXPECT_EQ(creds->uid, ::getuid());
    EXPECT_EQ(creds->gid, ::getgid());
    std::vector<gid_t> groups(static_cast<std::size_t>(::getgroups(0, nullptr)));
    ASSERT_EQ(::getgroups(static_cast<int>(groups.size()), groups.data()),
              static_cast<int>(groups.size()));
    std::sort(groups.begin(), groups.end());
    auto got = creds->groups;
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, groups);
  }
  EXPECT_FALSE(peer_credentials(-1).ok());
}

// Restores RLIMIT_NOFILE when the test ends.
class FdLimitGuard {
 public:
  FdLimitGuard() { ::getrlimit(RLIMIT_NOFILE, &saved_); }
  FdLimitGuard(const FdLimitGuard&) = delete;
  FdLimitGuard& operator=(const FdLimitGuard&) = delete;
  ~FdLimitGuard() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  const rlimit& saved() const { return saved_; }

 private:
  rlimit saved_{};
};

TEST(EnsureFdLimit, RaisesTheSoftLimit) {
  FdLimitGuard guard;
  rlimit lim = guard.saved();
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < 512) GTEST_SKIP() << "hard limit < 512";
  lim.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  EXPECT_TRUE(ensure_fd_limit(100).ok());  // already enough: unchanged
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  EXPECT_EQ(lim.rlim_cur, 256u);
  ASSERT_TRUE(ensure_fd_limit(512).ok());
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  EXPECT_EQ(lim.rlim_cur, 512u);
  EXPECT_EQ(lim.rlim_max, guard.saved().rlim_max);  // the hard limit is left alone
}

TEST(EnsureFdLimit, NamesBothLimitsWhenTheHardLimitIsTooLow) {
  FdLimitGuard guard;
  const rlimit lim = guard.saved();
  if (lim.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no hard limit";
  const auto r = ensure_fd_limit(static_cast<std::uint64_t>(lim.rlim_max) + 1);
  EXPECT_TRUE(fails_with(r, Errc::no_memory, std::to_string(lim.rlim_max)));
  EXPECT_TRUE(fails_with(r, Errc::no_memory, std::to_string(lim.rlim_cur)));
  EXPECT_TRUE(fails_with(r, Errc::no_memory, "ulimit"));
  EXPECT_TRUE(fails_with(r, Errc::no_memory, "LimitNOFILE="));
}

}  // namespace
}  // namespace ferry::detail
