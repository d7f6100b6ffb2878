// SPDX-License-Identifier: Apache-2.0
// Security properties, with real processes, users, sockets and shared memory:
//
//   - two sessions of one user never see each other's endpoints, and one endpoint name can
//     be served in both at once, each client reaching only its own session's server;
//   - another user is refused at the handshake with a message that names them and the fix,
//     admitted when allow-listed by uid or group, and stopped by the socket's mode (0600)
//     when the server has no allow-list;
//   - shared-memory objects are 0600 whatever the umask: named ones, and the connection and
//     doorbell segments a server passes at the handshake;
//   - payload bytes never reach ferryd's log or any error message a client gets, over every
//     error path a client can reach.
//
// The other-user test runs as root: it creates the system user "ferrytest" if it is missing
// (and leaves it) and forks children that drop to it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "conn/conn_layout.hpp"
#include "control/handshake.hpp"
#include "control/unix_socket.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/session.hpp"
#include "ferry/shm.hpp"
#include "ferry/wire.hpp"
#include "ring/ring_layout.hpp"
#include "support/assertions.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/memfd_maps.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::as_bytes;

constexpr std::uint16_t kWho = 1;  // replies with who answered and whom it saw

// Concatenates anything streamable (GCC 12 warns on "literal" + std::string temporaries).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

std::string octal(mode_t mode) {
  return cat("0", std::oct, mode & 07777);
}

// st_mode & 07777 of `path` (lstat), or ~0 if it cannot be read.
mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return static_cast<mode_t>(~0u);
  return st.st_mode & 07777;
}

// A server answering kWho with "<label> uid=<peer uid> gid=<peer gid>".
Result<Server> who_server(ServerOptions options, const std::string& label) {
  auto created = Server::create(std::move(options));
  if (!created) return created;
  created->on(kWho, [label](Request& r) {
    const std::string text = cat(label, " uid=", r.peer().uid, " gid=", r.peer().gid);
    if (r.reply(as_bytes(text)).code() == Errc::would_block) r.retry_later();
  });
  return created;
}

// ---------------------------------------------------------------------------- sessions

// Options for `endpoint` in `session` ("": the one FERRY_SESSION names).
ServerOptions server_options_in(const std::string& session, const std::string& endpoint) {
  ServerOptions o;
  o.session = session;
  o.endpoint = endpoint;
  return o;
}

// The same for a client, which does not reconnect.
ClientOptions client_options_in(const std::string& session, const std::string& endpoint) {
  ClientOptions o;
  o.session = session;
  o.endpoint = endpoint;
  o.reconnect = false;
  return o;
}

TEST(Security, SessionsOfOneUserNeverSeeEachOthersEndpoints) {
  test::ScopedSession session("a");  // a private XDG_RUNTIME_DIR; FERRY_SESSION=a
  const std::string base = cat(session.dir(), "/ferry");
  auto a_created = who_server(server_options_in("a", "svc"), "session-a");
  ASSERT_TRUE(a_created) << a_created.error().message();
  test::ServerThread a(std::move(*a_created));
  a.start();

  // Session b has nothing yet: not_found, naming the directory it looked in.
  const ClientOptions in_b = client_options_in("b", "svc");
  auto missing = Client::connect(in_b);
  EXPECT_TRUE(test::fails_with(missing, Errc::not_found, cat(base, "/b")));
  // Session b exists (another endpoint is served there): not_found, naming the socket.
  auto other_created = who_server(server_options_in("b", "other"), "session-b-other");
  ASSERT_TRUE(other_created) << other_created.error().message();
  test::ServerThread other(std::move(*other_created));
  other.start();
  missing = Client::connect(in_b);
  EXPECT_TRUE(test::fails_with(missing, Errc::not_found, cat(base, "/b/svc.sock")));

  // The same endpoint name served in both sessions at once, by two servers.
  auto b_created = who_server(server_options_in("b", "svc"), "session-b");
  ASSERT_TRUE(b_created) << "a second session could not serve the same endpoint name: "
                         << b_created.error().message();
  test::ServerThread b(std::move(*b_created));
  b.start();
  EXPECT_EQ(a->socket_path(), cat(base, "/a/svc.sock"));
  EXPECT_EQ(b->socket_path(), cat(base, "/b/svc.sock"));
  EXPECT_EQ(mode_of(cat(base, "/a")), 0700u);
  EXPECT_EQ(mode_of(cat(base, "/b")), 0700u);

  auto ca = Client::connect(client_options_in("a", "svc"));
  auto cb = Client::connect(in_b);
  auto ce = Client::connect(client_options_in("", "svc"));  // FERRY_SESSION=a
  ASSERT_TRUE(ca) << ca.error().message();
  ASSERT_TRUE(cb) << cb.error().message();
  ASSERT_TRUE(ce) << ce.error().message();
  EXPECT_EQ(ca->socket_path(), a->socket_path());
  EXPECT_EQ(cb->socket_path(), b->socket_path());
  EXPECT_EQ(ce->socket_path(), a->socket_path());
  const std::string me = cat(" uid=", ::geteuid(), " gid=", ::getegid());
  for (int i = 0; i < 20; ++i) {
    auto ra = ca->request(kWho, {}, 5s);
    auto rb = cb->request(kWho, {}, 5s);
    auto re = ce->request(kWho, {}, 5s);
    ASSERT_TRUE(ra && rb && re);
    EXPECT_EQ(ra->text(), cat("session-a", me));
    EXPECT_EQ(rb->text(), cat("session-b", me));
    EXPECT_EQ(re->text(), cat("session-a", me));
  }
}

// ---------------------------------------------------------------------------- other users

struct User {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

std::optional<User> lookup_user(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return User{found->pw_uid, found->pw_gid, found->pw_name};
}

// Runs a program (looked up in PATH, no shell) with its output discarded; its exit status.
int run_quietly(std::vector<std::string> args) {
  (void)std::fflush(stdout);
  (void)std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::_Exit(127);
  }
  return pid < 0 ? -1 : test::wait_child(pid);
}

// The system user "ferrytest", created if missing (and left in place).
std::optional<User> ferrytest_user(std::string* why) {
  if (auto u = lookup_user("ferrytest")) return u;
  const int rc = run_quietly(
      {"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "ferrytest"});
  if (auto u = lookup_user("ferrytest")) return u;
  *why = cat("user ferrytest is missing and `useradd --system --no-create-home --shell ",
             "/usr/sbin/nologin ferrytest` failed (exit status ", rc,
             (rc == 127 ? ": useradd is not installed (package passwd)" : ""), ")");
  return std::nullopt;
}

// /tmp/ferry-shared-XXXXXX, mode 0711, owned by root: anyone may reach a socket in it,
// nobody else may put one there. Removed with everything in it.
class SharedSocketDir {
 public:
  SharedSocketDir() {
    std::string tmpl = "/tmp/ferry-shared-XXXXXX";
    if (::mkdtemp(tmpl.data()) != nullptr && ::chmod(tmpl.c_str(), 0711) == 0) dir_ = tmpl;
  }
  ~SharedSocketDir() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  SharedSocketDir(const SharedSocketDir&) = delete;
  SharedSocketDir& operator=(const SharedSocketDir&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// Becomes `user` for good: no supplementary groups, its gid, its uid. "" or what failed.
std::string become(const User& user) {
  if (::setgroups(0, nullptr) != 0) return cat("setgroups(0): ", std::strerror(errno));
  if (::setgid(user.gid) != 0) return cat("setgid(", user.gid, "): ", std::strerror(errno));
  if (::setuid(user.uid) != 0) return cat("setuid(", user.uid, "): ", std::strerror(errno));
  if (::getuid() != user.uid || ::geteuid() != user.uid || ::getgid() != user.gid ||
      ::getegid() != user.gid) {
    return "the uid or gid did not change";
  }
  if (::setuid(0) == 0) return "could become root again after dropping privileges";
  // Changing credentials cleared the parent-death signal; set it again.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  return {};
}

// A child forked at once (before the test starts any thread) that becomes another user,
// waits for go(), runs `task` and reports its text through a pipe.
class OtherUserChild {
 public:
  OtherUserChild(const User& user, const std::function<std::string()>& task) {
    if (::pipe(go_) != 0 || ::pipe(report_) != 0) return;
    (void)std::fflush(stdout);  // or the child would write our buffered output again
    (void)std::fflush(stderr);
    pid_ = test::fork_child([&]() -> int {
      ::close(go_[1]);
      ::close(report_[0]);
      std::string report = become(user);
      if (!report.empty()) {
        report = cat("setup=", report, "\n");
      } else {
        char go = 0;
        if (::read(go_[0], &go, 1) != 1) return 1;  // the parent gave up
        report = task();
      }
      write_all(report_[1], report);
      return 0;
    });
    ::close(go_[0]);
    ::close(report_[1]);
    go_[0] = report_[1] = -1;
  }
  ~OtherUserChild() {
    for (int fd : {go_[0], go_[1], report_[0], report_[1]}) {
      if (fd >= 0) ::close(fd);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)test::wait_child(pid_);
    }
  }
  OtherUserChild(const OtherUserChild&) = delete;
  OtherUserChild& operator=(const OtherUserChild&) = delete;

  bool started() const { return pid_ > 0; }
  void go() { write_all(go_[1], "g"); }

  // The child's report as key=value lines, waiting up to `limit` for it to finish.
  std::map<std::string, std::string> finish(std::chrono::seconds limit) {
    std::string text;
    const auto until = Clock::now() + limit;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) {
        text += "\ntimeout=the child did not finish in time\n";
        ::kill(pid_, SIGKILL);
        break;
      }
      pollfd p{report_[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[1024];
      const ssize_t n = ::read(report_[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    std::map<std::string, std::string> report;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const std::size_t eq = line.find('=');
      if (eq != std::string::npos) report[line.substr(0, eq)] = line.substr(eq + 1);
    }
    report["exit"] = std::to_string(test::wait_child(pid_));
    pid_ = -1;
    return report;
  }

 private:
  pid_t pid_ = -1;
  int go_[2] = {-1, -1};
  int report_[2] = {-1, -1};
};

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

// In the child: connect to `socket_path`, ask kWho, report.
std::string connect_and_ask(const std::string& socket_path) {
  ClientOptions options;
  options.socket_path = socket_path;
  options.name = "other-user";
  options.reconnect = false;
  auto client = Client::connect(options);
  if (!client) {
    return cat("code=", to_string(client.code()), "\nmessage=", one_line(client.error().message()),
               "\n");
  }
  auto reply = client->request(kWho, as_bytes("who am i"), 5s);
  if (!reply) {
    return cat("code=ok\nrequest=", to_string(reply.code()), " ", one_line(reply.error().message()),
               "\n");
  }
  return cat("code=ok\nreply=", reply->text(), "\n");
}

struct OtherUserOutcome {
  std::map<std::string, std::string> report;
  mode_t socket_mode = 0;
  ServerStats stats;
};

// A server at `socket_path` with `options`, and a child of `user` connecting to it.
OtherUserOutcome other_user_connects(const User& user, const std::string& socket_path,
                                     ServerOptions options) {
  OtherUserOutcome out;
  OtherUserChild child(user, [&socket_path] { return connect_and_ask(socket_path); });
  if (!child.started()) {
    ADD_FAILURE() << "could not fork the child: " << std::strerror(errno);
    return out;
  }
  options.socket_path = socket_path;
  auto server = who_server(options, "shared");
  if (!server) {
    ADD_FAILURE() << "Server::create: " << server.error().message();
    return out;
  }
  out.socket_mode = mode_of(socket_path);
  test::ServerThread thread(std::move(*server));
  thread.start();
  child.go();
  out.report = child.finish(20s);
  thread.stop();
  out.stats = thread->stats();
  return out;
}

// A field of a child's report; empty if missing.
std::string field(const std::map<std::string, std::string>& report, const std::string& key) {
  auto it = report.find(key);
  return it == report.end() ? std::string() : it->second;
}

std::string describe(const std::map<std::string, std::string>& report) {
  std::string s;
  for (const auto& [key, value] : report) s += cat(key, "=", value, "; ");
  return s;
}

// The child was refused at the handshake, which the server counted.
void expect_refused_at_handshake(const OtherUserOutcome& out) {
  EXPECT_EQ(field(out.report, "code"), "permission") << describe(out.report);
  EXPECT_EQ(out.stats.rejected, 1u);
  EXPECT_EQ(out.stats.accepted, 0u);
}

// The child was admitted through the open (0666) socket and its request saw its credentials.
void expect_admitted(const OtherUserOutcome& out, const User& user) {
  EXPECT_EQ(out.socket_mode, 0666u);
  EXPECT_EQ(field(out.report, "code"), "ok") << describe(out.report);
  EXPECT_EQ(field(out.report, "reply"), cat("shared uid=", user.uid, " gid=", user.gid))
      << describe(out.report);
  EXPECT_EQ(out.stats.accepted, 1u);
}

TEST(Security, AnotherUserIsRefusedAtTheHandshakeUnlessAllowListed) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root: it creates the user ferrytest and forks children that become it";
  }
  std::string why;
  const auto user = ferrytest_user(&why);
  ASSERT_TRUE(user) << why;
  ASSERT_NE(user->uid, 0u);
  test::ScopedSession session("shared");
  SharedSocketDir shared;
  ASSERT_FALSE(shared.dir().empty())
      << "cannot make /tmp/ferry-shared-XXXXXX: " << std::strerror(errno);
  const std::string path = cat(shared.dir(), "/bus.sock");
  const std::string uid_text = cat("(uid ", user->uid, ")");

  {
    SCOPED_TRACE("(a) allow-listed: another uid only");
    ServerOptions options;
    options.allow_uids = {12345};
    const auto out = other_user_connects(*user, path, options);
    EXPECT_EQ(out.socket_mode, 0666u) << "an allow-list opens the socket to everyone";
    EXPECT_FALSE(out.report.contains("setup")) << describe(out.report);
    ASSERT_TRUE(out.report.contains("code")) << describe(out.report);
    expect_refused_at_handshake(out);
    const std::string message = field(out.report, "message");
    for (const std::string& needle :
         {std::string("refused"), std::string("ferrytest"), uid_text, std::string("allow_users"),
          std::string("allow_groups"), path}) {
      EXPECT_NE(message.find(needle), std::string::npos)
          << "the refusal does not mention \"" << needle << "\": " << message;
    }
  }
  {
    SCOPED_TRACE("(b) allow-listed by uid");
    ServerOptions options;
    options.allow_uids = {user->uid};
    const auto out = other_user_connects(*user, path, options);
    expect_admitted(out, *user);
    EXPECT_EQ(out.stats.rejected, 0u);
  }
  {
    SCOPED_TRACE("(c) allow-listed by the user's primary group");
    ServerOptions options;
    options.allow_gids = {user->gid};
    const auto out = other_user_connects(*user, path, options);
    expect_admitted(out, *user);
  }
  {
    SCOPED_TRACE("(d) another group only");
    ServerOptions options;
    options.allow_gids = {user->gid + 54321};
    const auto out = other_user_connects(*user, path, options);
    expect_refused_at_handshake(out);
  }
  {
    SCOPED_TRACE("(e) no allow-list: the socket itself is closed to others");
    const auto out = other_user_connects(*user, path, ServerOptions{});
    EXPECT_EQ(out.socket_mode, 0600u);
    EXPECT_EQ(field(out.report, "code"), "permission") << describe(out.report);
    const std::string message = field(out.report, "message");
    EXPECT_NE(message.find(path), std::string::npos) << "does not name the socket: " << message;
    EXPECT_NE(message.find("Permission denied"), std::string::npos) << message;
    EXPECT_EQ(out.stats.accepted + out.stats.rejected, 0u) << "the server should never see it";
  }
}

// ---------------------------------------------------------------------------- modes

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

TEST(Security, NamedSegmentsAre0600WhateverTheUmask) {
  for (const mode_t mask : {mode_t{0}, mode_t{0277}}) {
    SCOPED_TRACE(cat("umask ", octal(mask)));
    const ScopedUmask scoped(mask);
    auto name = shm_object_name("security", cat("umask", ::getpid()));
    ASSERT_TRUE(name) << name.error().message();
    (void)SharedMemory::unlink_named(*name);
    auto shm = SharedMemory::create_named(*name, 8192);
    ASSERT_TRUE(shm) << shm.error().message();
    struct stat by_fd {};
    ASSERT_EQ(::fstat(shm->fd(), &by_fd), 0);
    EXPECT_EQ(by_fd.st_mode & 07777, 0600u) << "fstat: " << octal(by_fd.st_mode);
    EXPECT_EQ(by_fd.st_uid, ::geteuid());
    const std::string file = cat("/dev/shm/", *name);
    EXPECT_EQ(mode_of(file), 0600u) << file << " has mode " << octal(mode_of(file));
    auto opened = SharedMemory::open_named(*name);
    EXPECT_TRUE(opened) << opened.error().message();
    EXPECT_TRUE(SharedMemory::unlink_named(*name));
  }
}

// The descriptors a server passes at the handshake, received by a client speaking the
// handshake itself: the connection segment and the doorbell are memfds, and must be 0600
// (a memfd is created 0777: the kernel applies no umask to it).
TEST(Security, ConnectionSegmentsAre0600WhateverTheUmask) {
  test::ScopedSession session("modes");
  const ScopedUmask scoped(0);
  ServerOptions options;
  options.endpoint = "modes";
  auto created = Server::create(options);
  ASSERT_TRUE(created) << created.error().message();
  test::ServerThread server(std::move(*created));
  server.start();
  const std::string path = server->socket_path();
  EXPECT_EQ(mode_of(path), 0600u) << "the socket " << path;
  const std::string dir = path.substr(0, path.rfind('/'));
  EXPECT_EQ(mode_of(dir), 0700u) << "the session directory " << dir;

  auto sock = detail::connect_seqpacket(path, 2000ms);
  ASSERT_TRUE(sock) << sock.error().message();
  detail::Hello hello;
  hello.name = "modes";
  ASSERT_TRUE(detail::send_message(sock->get(), detail::encode_hello(hello)));
  std::array<std::byte, detail::kWelcomeSize + 1> buf{};
  auto got = detail::recv_message(sock->get(), buf, 2000ms);
  ASSERT_TRUE(got) << got.error().message();
  auto welcome = detail::decode_welcome(std::span<const std::byte>(buf.data(), got->size));
  ASSERT_TRUE(welcome) << welcome.error().message();
  ASSERT_EQ(welcome->status, detail::WelcomeStatus::ok) << welcome->message;
  ASSERT_EQ(got->fds.size(), 3u);
  const char* names[] = {"the connection segment", "the doorbell segment", "the wake segment"};
  for (std::size_t i = 0; i < 3; ++i) {
    struct stat st {};
    ASSERT_EQ(::fstat(got->fds[i].get(), &st), 0) << std::strerror(errno);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_uid, ::geteuid()) << names[i];
    EXPECT_EQ(st.st_mode & 07777, 0600u)
        << names[i] << " (a memfd passed at the handshake) has mode " << octal(st.st_mode)
        << ", expected 0600: SharedMemory::create_anonymous must fchmod its memfd";
  }
  // The same for a segment made directly.
  auto anonymous = SharedMemory::create_anonymous("modes", 4096);
  ASSERT_TRUE(anonymous) << anonymous.error().message();
  struct stat st {};
  ASSERT_EQ(::fstat(anonymous->fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u)
      << "SharedMemory::create_anonymous made a memfd of mode " << octal(st.st_mode);
}

// ---------------------------------------------------------------------------- payload leaks

const std::string kMarker = "SECRET-PAYLOAD-7f3a9c";

// `n` bytes of the marker, repeated (compressible, so compressed frames carry it too).
std::string secret(std::size_t n) {
  std::string s;
  while (s.size() < n) s += kMarker;
  s.resize(n);
  return s;
}

std::string hex(const std::string& s, bool upper, const char* separator = "") {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (i > 0) out += separator;
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

// ferryd with its stdout and stderr appended to `log`, at debug level, in this test's
// session.
test::FerrydOptions logged_ferryd(const std::string& log, const std::string& config) {
  return test::with_log(log, {"--config", config, "--log-level", "debug"});
}

using test::read_file;

// Every error message a client got, with what produced it.
class Messages {
 public:
  template <class T>
  void expect(const std::string& what, const Result<T>& result, Errc code) {
    if (result.ok()) {
      ADD_FAILURE() << what << ": succeeded, expected " << to_string(code);
      return;
    }
    EXPECT_EQ(result.code(), code) << what << ": " << result.error().message();
    add(what, result.error());
  }
  void add(const std::string& what, const Error& error) {
    all_.emplace_back(what, error.message());
  }
  const std::vector<std::pair<std::string, std::string>>& all() const { return all_; }

 private:
  std::vector<std::pair<std::string, std::string>> all_;
};

// Where `text` shows the marker, plain or as hex; empty if nowhere.
std::string leak_in(const std::string& text) {
  for (const std::string& needle :
       {kMarker, std::string("SECRET-PAYLOAD"), hex(kMarker, false), hex(kMarker, true),
        hex(kMarker.substr(0, 8), false, " "), hex(kMarker.substr(0, 8), true, " "),
        hex(kMarker.substr(0, 8), false, ":")}) {
    const std::size_t at = text.find(needle);
    if (at != std::string::npos) {
      return cat("\"", needle, "\" at offset ", at, ": ...",
                 text.substr(at > 80 ? at - 80 : 0, 200), "...");
    }
  }
  return {};
}

// A client's c2s ring as its mapping shows it (memfd:ferry:conn-<id> in /proc/self/maps).
struct RawRing {
  detail::RingHeader* ring = nullptr;
  std::byte* data = nullptr;
  std::uint64_t capacity = 0;
  std::uint32_t slot = 0;
};

std::optional<RawRing> raw_ring(ConnectionId id) {
  for (const auto& [start, size, writable] : test::memfd_mappings(cat("conn-", id))) {
    if (size < detail::kConnHeaderSize) continue;
    const detail::ConnIdent ident =
        std::launder(reinterpret_cast<detail::ConnHeader*>(start))->ident;  // NOLINT: layout
    if (ident.magic != detail::kConnMagic || ident.connection_id != id ||
        ident.c2s_offset + ring_bytes(ident.c2s_capacity) > size) {
      continue;
    }
    RawRing r;
    r.ring =
        std::launder(reinterpret_cast<detail::RingHeader*>(start + ident.c2s_offset));  // NOLINT
    r.data = start + ident.c2s_offset + detail::kRingHeaderSize;
    r.capacity = ident.c2s_capacity;
    r.slot = ident.slot;
    return r;
  }
  return std::nullopt;
}

// Sets the slot's bit in the doorbells this process maps (ferryd looks within 100 ms).
void ring_doorbell(std::uint32_t slot) {
  for (const auto& [start, size, writable] : test::memfd_mappings("doorbell")) {
    auto* header = std::launder(reinterpret_cast<detail::DoorbellHeader*>(start));  // NOLINT
    if (size < detail::kDoorbellHeaderSize || header->ident.magic != detail::kDoorbellMagic ||
        slot >= header->ident.slots) {
      continue;
    }
    auto* words = std::launder(reinterpret_cast<detail::ShmAtomic<std::uint64_t>*>(  // NOLINT
        start + detail::kDoorbellHeaderSize));
    words[slot / 64].fetch_or(std::uint64_t{1} << (slot % 64), std::memory_order_acq_rel);
  }
}

// Writes one frame carrying `payload` at the ring's tail and publishes it, as a hostile
// client writing its ring by hand would; `bad_crc` breaks its CRC.
bool write_raw_frame(Client& client, std::uint8_t flags, const std::string& payload, bool bad_crc) {
  auto r = raw_ring(client.id());
  if (!r) return false;
  const std::uint64_t tail = r->ring->producer.tail.load(std::memory_order_acquire);
  const std::uint64_t pos = tail & (r->capacity - 1);
  const std::uint64_t size = (wire::kHeaderSize + payload.size() + 7) & ~std::uint64_t{7};
  if (pos + size > r->capacity) return false;
  wire::Header h;
  h.length = static_cast<std::uint32_t>(payload.size());
  h.type = 300;
  h.flags = flags;
  h.seq = r->ring->producer.records.load(std::memory_order_relaxed);
  std::byte* frame = r->data + pos;
  wire::encode(h, as_bytes(payload), frame);
  std::memcpy(frame + wire::kHeaderSize, payload.data(), payload.size());
  if (bad_crc) frame[wire::kCrcCoveredHeaderBytes] ^= std::byte{0x21};
  r->ring->producer.tail.store(tail + size, std::memory_order_release);
  ring_doorbell(r->slot);
  return true;
}

bool wait_disconnected(const Client& client, std::chrono::milliseconds limit) {
  return test::wait_for([&] { return !client.connected(); }, limit);
}

// A client that serves `type` and SIGKILLs itself on the first request it gets.
pid_t fork_dying_server(std::uint16_t type, std::atomic<int>* ready) {
  return test::fork_child([type, ready]() -> int {
    auto client = Client::connect();
    if (!client) return 10;
    if (!client->serve(type)) return 11;
    ready->fetch_add(1);
    for (;;) {
      auto n = client->wait([](const Message&) { ::raise(SIGKILL); }, 30s);
      if (!n || *n == 0) return 12;
    }
  });
}

ClientOptions client_options(Compression codec = Compression::none) {
  ClientOptions o;
  o.compression.codec = codec;
  o.compression.threshold = 64;
  o.name = "leak-check";
  return o;
}

TEST(Security, PayloadBytesNeverReachLogsOrErrorMessages) {
  test::ScopedSession session("leak");
  test::Watchdog watchdog(120s, "payload leak check");
  const std::string log = cat(session.dir(), "/ferryd.log");
  const std::string config = cat(session.dir(), "/ferryd.toml");
  {
    // Defaults, but publications held for a subscriber that never reads (the publisher's
    // backpressure errors are checked below), and requests refused and expired soon.
    std::ofstream(config) << "slow_subscriber_timeout_ms = 600000\n"
                          << "max_outstanding_requests = 1\n"
                          << "request_timeout_ms = 300\n";
  }
  Messages messages;

  {
    test::FerrydProcess ferryd(logged_ferryd(log, config));
    ASSERT_TRUE(ferryd.ok()) << "ferryd did not start; its log:\n" << read_file(log);
    // Clients that serve a type and die holding the request (forked before any client).
    test::SharedBlock block(sizeof(std::atomic<int>));
    auto* ready = new (block.data()) std::atomic<int>(0);
    const pid_t dying_plain = fork_dying_server(301, ready);
    const pid_t dying_zstd = fork_dying_server(302, ready);
    test::wait_for([&] { return ready->load() >= 2; });
    ASSERT_EQ(ready->load(), 2) << "the serving clients did not start";

    auto plain = Client::connect(client_options());
    auto lz4 = Client::connect(client_options(Compression::lz4));
    auto zstd = Client::connect(client_options(Compression::zstd));
    ASSERT_TRUE(plain && lz4 && zstd);

    // Requests nobody serves: error replies.
    messages.expect("unserved, plain", plain->request(300, as_bytes(secret(200)), 5s),
                    Errc::remote);
    messages.expect("unserved, lz4", lz4->request(300, as_bytes(secret(8192)), 5s), Errc::remote);
    messages.expect("unserved, zstd", zstd->request(300, as_bytes(secret(8192)), 5s), Errc::remote);
    // Requests whose serving client dies with them in hand.
    messages.expect("server died, plain", plain->request(301, as_bytes(secret(500)), 10s),
                    Errc::remote);
    messages.expect("server died, zstd", zstd->request(302, as_bytes(secret(4096)), 10s),
                    Errc::remote);
    EXPECT_EQ(test::wait_child(dying_plain), 128 + SIGKILL);
    EXPECT_EQ(test::wait_child(dying_zstd), 128 + SIGKILL);
    // A serving client that never answers: with one request waiting the next is refused;
    // once that one expired, the next is forwarded and expires too.
    auto silent = Client::connect(client_options());
    ASSERT_TRUE(silent) << silent.error().message();
    ASSERT_TRUE(silent->serve(307));
    messages.expect("request left waiting", plain->request(307, as_bytes(secret(300)), 0ms),
                    Errc::timed_out);
    messages.expect("refused, lz4", lz4->request(307, as_bytes(secret(2000)), 5s), Errc::remote);
    std::this_thread::sleep_for(500ms);
    messages.expect("expired, zstd", zstd->request(307, as_bytes(secret(4096)), 5s), Errc::remote);
    // Too large, refused by the client library.
    const std::string huge = secret(std::size_t{plain->max_payload()} + 1);
    messages.expect("too large send", plain->send(303, as_bytes(huge)), Errc::too_large);
    messages.expect("too large request", plain->request(303, as_bytes(huge), 1s), Errc::too_large);
    messages.expect("too large send, lz4", lz4->send(303, as_bytes(huge)), Errc::too_large);

    // Publishing to a subscriber that never reads: the publisher's ring fills.
    ClientOptions small = client_options();
    small.ring_capacity = 4096;
    auto subscriber = Client::connect(small);
    ASSERT_TRUE(subscriber) << subscriber.error().message();
    ASSERT_TRUE(subscriber->subscribe(304));
    for (const Compression codec : {Compression::none, Compression::lz4}) {
      ClientOptions o = client_options(codec);
      o.ring_capacity = 4096;
      o.send_timeout = 300ms;
      auto publisher = Client::connect(o);
      ASSERT_TRUE(publisher) << publisher.error().message();
      Result<void> sent;
      for (int i = 0; i < 100000 && sent; ++i) sent = publisher->send(304, as_bytes(secret(900)));
      messages.expect(cat("publish to a full subscriber, ", to_string(codec)), sent,
                      Errc::timed_out);
      messages.expect(cat("request behind a full ring, ", to_string(codec)),
                      publisher->request(300, as_bytes(secret(900)), 300ms), Errc::timed_out);
    }

    // Frames written into the ring by hand: a bad CRC, a compressed frame that is not, and
    // garbage. ferryd closes each connection; the client's next request says so.
    ClientOptions hostile_options = client_options();
    hostile_options.reconnect = false;
    struct HandWritten {
      const char* what;
      std::uint8_t flags;
      bool bad_crc;
    };
    const HandWritten frames[] = {{"bad CRC", 0, true},
                                  {"not really lz4", wire::kFlagLz4, false},
                                  {"not really zstd", wire::kFlagZstd, false},
                                  {"unknown flags", 0x40, false}};
    for (const auto& [what, flags, bad_crc] : frames) {
      auto hostile = Client::connect(hostile_options);
      ASSERT_TRUE(hostile) << hostile.error().message();
      ASSERT_TRUE(hostile->request(300, {}, 5s).code() == Errc::remote);
      ASSERT_TRUE(write_raw_frame(*hostile, flags, secret(256), bad_crc))
          << "cannot find the mapping of connection " << hostile->id() << " in /proc/self/maps";
      EXPECT_TRUE(wait_disconnected(*hostile, test::kPatience))
          << what << ": ferryd kept the connection";
      messages.expect(cat("after a hand-written frame: ", what),
                      hostile->request(300, as_bytes(secret(300)), 2s), Errc::disconnected);
    }

    // ferryd stops; the clients find out on their next calls.
    EXPECT_EQ(ferryd.stop(SIGTERM), 0);
    messages.expect("request after ferryd stopped", plain->request(300, as_bytes(secret(300)), 2s),
                    Errc::disconnected);
    messages.expect("request after ferryd stopped, lz4",
                    lz4->request(300, as_bytes(secret(4000)), 2s), Errc::disconnected);
    ClientOptions impatient = client_options(Compression::zstd);
    impatient.send_timeout = 200ms;
    auto gone = Client::connect(impatient);
    messages.expect("connect after ferryd stopped", gone, Errc::not_found);
  }

  {
    // A second ferryd, killed while a request is in flight.
    test::FerrydProcess ferryd(logged_ferryd(log, config));
    ASSERT_TRUE(ferryd.ok());
    ClientOptions no_reconnect = client_options();
    no_reconnect.reconnect = false;
    auto server = Client::connect(no_reconnect);
    ClientOptions requester_options = client_options(Compression::lz4);
    requester_options.send_timeout = 200ms;
    auto requester = Client::connect(requester_options);
    ASSERT_TRUE(server && requester);
    ASSERT_TRUE(server->serve(305));
    bool answered = false;
    Error in_flight;
    std::thread asking([&] {
      auto reply = requester->request(305, as_bytes(secret(3000)), 10s);
      answered = reply.ok();
      if (!reply) in_flight = reply.error();
    });
    bool got_request = false;
    const auto deadline = Clock::now() + test::kPatience;
    while (!got_request && Clock::now() < deadline) {
      auto n = server->wait([&](const Message& m) { got_request = m.is_request(); }, 100ms);
      ASSERT_TRUE(n) << n.error().message();
    }
    EXPECT_TRUE(got_request) << "the request never reached the serving client";
    EXPECT_EQ(ferryd.stop(SIGKILL), 128 + SIGKILL);
    asking.join();
    EXPECT_FALSE(answered) << "a request in flight was answered by a killed ferryd";
    EXPECT_EQ(in_flight.code(), Errc::disconnected) << in_flight.message();
    messages.add("request in flight when ferryd was killed", in_flight);
    messages.expect("serving client after ferryd was killed",
                    server->request(300, as_bytes(secret(100)), 2s), Errc::disconnected);
    messages.expect("send after ferryd was killed", server->send(300, as_bytes(secret(100))),
                    Errc::disconnected);
    // With reconnection: the next send waits send_timeout for a ferryd that never returns.
    Result<void> sent;
    for (int i = 0; i < 1000 && sent; ++i) sent = requester->send(300, as_bytes(secret(2000)));
    messages.expect("reconnecting send after ferryd was killed", sent, Errc::disconnected);
    messages.expect("subscribe after ferryd was killed", requester->subscribe(306, 300ms),
                    Errc::disconnected);
  }

  const std::string text = read_file(log);
  // The log is really ferryd's, at debug level, from both runs.
  EXPECT_NE(text.find("listening on"), std::string::npos) << text;
  EXPECT_NE(text.find("\"event\":\"connected\""), std::string::npos) << "no debug lines:\n" << text;
  EXPECT_NE(text.find("protocol errors"), std::string::npos) << text;
  EXPECT_EQ(leak_in(text), "") << "ferryd's log shows payload bytes:\n" << text;
  EXPECT_GE(messages.all().size(), 20u);
  for (const auto& [what, message] : messages.all()) {
    EXPECT_FALSE(message.empty()) << what;
    EXPECT_EQ(leak_in(message), "") << what << ": the error message shows payload bytes";
  }
  for (const auto& [what, message] : messages.all())
    std::printf("  %s: %s\n", what.c_str(), message.c_str());
}

}  // namespace
}  // namespace ferry
