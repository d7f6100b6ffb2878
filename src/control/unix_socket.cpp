// SPDX-License-Identifier: Apache-2.0
// The control plane's Unix-domain sockets (unix_socket.hpp). See docs/protocol.md.
#include "control/unix_socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>  // renameat2, RENAME_NOREPLACE
#include <cstring>
#include <limits>
#include <thread>
#include <utility>

namespace ferry::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Descriptors received beyond this many make the control message truncated (MSG_CTRUNC).
constexpr std::size_t kControlSpace = CMSG_SPACE(sizeof(int) * kMaxFds);

// "<what>: <strerror>[: <hint>]", with a hint when errno names a limit one can change.
Error os_error(int err, const std::string& what) {
  Error error = Error::from_errno(err, what);
  const char* hint = nullptr;
  switch (err) {
    case EMFILE:
      hint = "this process has too many open files (ulimit -n, or LimitNOFILE= in a unit)";
      break;
    case ENFILE: hint = "the system has too many open files (fs.file-max)"; break;
    case ENOBUFS:
    case ENOMEM: hint = "out of kernel memory for socket buffers"; break;
    default: return error;
  }
  return Error(error.code(), error.message() + ": " + hint, err);
}

Result<sockaddr_un> socket_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path || path.find('\0') != std::string::npos) {
    return Error(Errc::invalid_argument,
                 "socket path " + path + " is " + std::to_string(path.size()) +
                     " bytes; a Unix socket path holds 1 to " +
                     std::to_string(sizeof addr.sun_path - 1) + " bytes without NUL");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

int connect_to(int fd, const sockaddr_un& addr) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API.
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
}

Result<UniqueFd> new_socket(int extra_flags, const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | extra_flags, 0));
  if (!fd) return os_error(errno, "creating a Unix socket for " + path);
  return fd;
}

// What a non-blocking connect to `path` says about it: 0 (someone listens; EAGAIN, a full
// backlog, counts as listening), or the errno of the failure.
int probe(const sockaddr_un& addr) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno;
  int rc = 0;
  do {
    rc = connect_to(fd.get(), addr);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) return 0;
  return errno;
}

int bind_to(int fd, const sockaddr_un& addr) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API.
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
}

// Whether a new socket may take `path`: nothing is there, or a socket nobody listens on (a
// dead server's, which the rename replaces). A live server's socket, or a file that is not
// a socket, is Errc::exists and stays.
Result<void> check_path_free(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return os_error(errno, "checking the existing file " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Error(Errc::exists,
                 path +
                     " exists and is not a socket; ferry never removes it: move it away, "
                     "or use another endpoint name",
                 EADDRINUSE);
  }
  if (probe(addr) != ECONNREFUSED) {
    return Error(Errc::exists,
                 "another server is already listening at " + path +
                     ": stop it, or use another endpoint name or session",
                 EADDRINUSE);
  }
  return {};
}

// The directory of a socket path (open, for the *at() calls, and by name) and the socket's
// name in it.
struct SocketPlace {
  UniqueFd dir_fd;
  std::string dir;
  std::string name;
};

Result<SocketPlace> socket_place(const std::string& path) {
  SocketPlace place;
  const auto slash = path.rfind('/');
  place.dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  place.name = slash == std::string::npos ? path : path.substr(slash + 1);
  place.dir_fd.reset(::open(place.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!place.dir_fd) {
    return os_error(errno, "opening the directory " + place.dir + " of the socket " + path);
  }
  return place;
}

constexpr std::string_view kTemporaryPrefix = ".ferry-tmp.";
// Names tried before listen_seqpacket() gives up (each is taken, or removed by a cleaner
// before it listened, only in a race).
constexpr int kPublishAttempts = 8;
std::atomic<unsigned> g_next_temporary{0};

// Binds `fd` under the temporary name `temp` beside `path`, gives it `mode`, listens and
// renames it to `path`. true once published; false when `temp` was taken, or removed before
// the rename (a cleaner may remove a socket that does not listen yet): then the caller
// starts again with a fresh socket and name. The temporary name never outlives a failure.
Result<bool> publish(int fd, const SocketPlace& place, const std::string& temp,
                     const std::string& path, const sockaddr_un& addr, int backlog, mode_t mode) {
  const std::string temp_path = place.dir + "/" + temp;
  // A temporary name too long for a sockaddr_un beside a long directory is bound through
  // the directory's descriptor.
  const bool direct = temp_path.size() < sizeof addr.sun_path;
  const std::string bind_path =
      direct ? temp_path : "/proc/self/fd/" + std::to_string(place.dir_fd.get()) + "/" + temp;
  auto bind_addr = socket_address(bind_path);
  if (!bind_addr) return bind_addr.error();
  if (bind_to(fd, *bind_addr) != 0) {
    const int err = errno;
    if (err == EADDRINUSE) return false;
    const std::string how =
        direct ? "" : " through " + bind_path + ", as its path is too long for a sockaddr_un";
    return os_error(err,
                    "binding the Unix socket " + temp_path + " (to become " + path + ")" + how);
  }
  const int dir = place.dir_fd.get();
  // A step after bind() failed (errno says why, read before anything else can change it).
  const auto fail = [&](const char* step) -> Result<bool> {
    const int err = errno;
    ::unlinkat(dir, temp.c_str(), 0);
    if (err == ENOENT) return false;
    return os_error(err,
                    std::string(step) + " the socket " + temp_path + " (to become " + path + ")");
  };
  // Nobody can connect before listen(): set the mode first. fchmod() does not reach a
  // socket's file, and a umask is process-wide, so chmod the name we bound.
  if (::fchmodat(dir, temp.c_str(), mode, 0) != 0) return fail("setting the mode of");
  if (::listen(fd, backlog) != 0) return fail("listening on");
  // Published in one step, and without replacing what appeared at `path` meanwhile unless
  // it is a dead server's socket. EINVAL: a file system without RENAME_NOREPLACE.
  if (::renameat2(dir, temp.c_str(), dir, place.name.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST || errno == EINVAL) {
    if (auto free = check_path_free(path, addr); !free) {
      ::unlinkat(dir, temp.c_str(), 0);
      return free.error();
    }
    if (::renameat(dir, temp.c_str(), dir, place.name.c_str()) == 0) return true;
  }
  return fail("renaming");
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// now + timeout, saturating instead of overflowing for huge timeouts.
Clock::time_point deadline_after(std::chrono::milliseconds timeout) {
  const auto now = Clock::now();
  if (timeout.count() <= 0) return now;
  const auto room =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  return timeout >= room ? Clock::time_point::max() : now + timeout;
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  // Rounded up, so a wait never ends before its deadline.
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

void close_all(std::vector<UniqueFd>& fds) {
  fds.clear();
}

}  // namespace

Result<UniqueFd> listen_seqpacket(const std::string& path, int backlog, mode_t mode) {
  auto addr = socket_address(path);
  if (!addr) return addr.error();
  auto place = socket_place(path);
  if (!place) return place.error();
  for (int attempt = 0; attempt < kPublishAttempts; ++attempt) {
    auto fd = new_socket(SOCK_NONBLOCK, path);
    if (!fd) return fd.error();
    const std::string temp = temporary_socket_name(::getpid(), g_next_temporary++);
    auto published = publish(fd->get(), *place, temp, path, *addr, backlog, mode);
    if (!published) return published.error();
    if (*published) return std::move(*fd);
  }
  return Error(Errc::system, "binding a socket to become " + path + ": " +
                                 std::to_string(kPublishAttempts) + " temporary names in " +
                                 place->dir +
                                 " were taken or removed before use; is another program "
                                 "removing files there?");
}

std::string temporary_socket_name(pid_t pid, unsigned n) {
  return std::string(kTemporaryPrefix) + std::to_string(pid) + "." + std::to_string(n);
}

bool is_temporary_socket_name(std::string_view name) {
  if (!name.starts_with(kTemporaryPrefix)) return false;
  name.remove_prefix(kTemporaryPrefix.size());
  const auto dot = name.find('.');
  return dot != std::string_view::npos && all_digits(name.substr(0, dot)) &&
         all_digits(name.substr(dot + 1));
}

bool nobody_listens(const std::string& path) {
  auto addr = socket_address(path);
  return addr && probe(*addr) == ECONNREFUSED;
}

Result<UniqueFd> accept_connection(int listen_fd) {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    const int err = errno;
    // ECONNABORTED: the client gave up while queued; look at the next one.
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err == EAGAIN) return Error(Errc::would_block);
    return os_error(err, "accepting a connection on socket fd " + std::to_string(listen_fd));
  }
}

Result<UniqueFd> connect_seqpacket(const std::string& path, std::chrono::milliseconds timeout) {
  auto addr = socket_address(path);
  if (!addr) return addr.error();
  const auto deadline = deadline_after(timeout);
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    // Non-blocking while connecting, so a full backlog is EAGAIN now, not a wait without
    // end in the kernel; blocking again once connected.
    auto fd = new_socket(SOCK_NONBLOCK, path);
    if (!fd) return fd.error();
    int rc = 0;
    do {
      rc = connect_to(fd->get(), *addr);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      const int flags = ::fcntl(fd->get(), F_GETFL);
      if (flags < 0 || ::fcntl(fd->get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        return os_error(errno, "making the socket connected to " + path + " blocking");
      }
      return std::move(*fd);
    }
    const int err = errno;
    switch (err) {
      case ENOENT:
        return Error(Errc::not_found,
                     "no ferry endpoint at " + path + ": is the server running in this session?",
                     err);
      case ECONNREFUSED: {
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
          return Error(Errc::not_found, path + " is not a socket, so not a ferry endpoint", err);
        }
        return Error(Errc::not_found, "nothing is listening at " + path + ": its server has exited",
                     err);
      }
      case EPROTOTYPE:
        return Error(Errc::not_found,
                     path +
                         " is a socket of another type (not SOCK_SEQPACKET): not a ferry "
                         "endpoint",
                     err);
      case EACCES:
      case EPERM:
        return Error(Errc::permission,
                     "connecting to " + path + ": " + std::strerror(err) +
                         ": the socket or a directory above it belongs to another user, or is "
                         "not writable by you",
                     err);
      case EAGAIN: break;  // the server's backlog is full: retry below
      default: return os_error(err, "connecting to " + path);
    }
    const auto left = remaining(deadline);
    if (left.count() == 0) {
      return Error(Errc::timed_out,
                   "connecting to " + path + ": the server's backlog stayed full for " +
                       std::to_string(timeout.count()) +
                       " ms: the server is overloaded or not accepting",
                   err);
    }
    std::this_thread::sleep_for(std::min<std::chrono::microseconds>(pause, left));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(10));
  }
}

Result<PeerCredentials> peer_credentials(int fd) {
  PeerCredentials creds;
  ucred uc{};
  socklen_t len = sizeof uc;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
    return os_error(
        errno, "reading the peer's credentials (SO_PEERCRED) of socket fd " + std::to_string(fd));
  }
  creds.pid = uc.pid;
  creds.uid = uc.uid;
  creds.gid = uc.gid;

  creds.groups.resize(64);
  for (;;) {
    auto glen = static_cast<socklen_t>(creds.groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, creds.groups.data(), &glen) == 0) {
      creds.groups.resize(glen / sizeof(gid_t));
      return creds;
    }
    // ERANGE: the buffer is too small and glen says how large it must be.
    if (errno == ERANGE && glen / sizeof(gid_t) > creds.groups.size()) {
      creds.groups.resize(glen / sizeof(gid_t));
      continue;
    }
    const int err = errno;
    return os_error(err, "reading the peer's groups (SO_PEERGROUPS, Linux 4.13+) of socket fd " +
                             std::to_string(fd));
  }
}

Result<void> send_message(int fd, std::span<const std::byte> bytes, std::span<const int> fds) {
  if (bytes.empty()) {
    // A zero-byte SOCK_SEQPACKET message reads like the peer closing the connection.
    return Error(Errc::invalid_argument, "send_message: a message needs at least one byte");
  }
  if (fds.size() > kMaxFds) {
    return Error(Errc::invalid_argument, "send_message: " + std::to_string(fds.size()) +
                                             " descriptors, at most " + std::to_string(kMaxFds) +
                                             " fit in one message");
  }
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};  // sendmsg does not write it.
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) unsigned char control[kControlSpace] = {};
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n = 0;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int err = errno;
    switch (err) {
      case EPIPE:
      case ECONNRESET:
      case ENOTCONN:
        return Error(Errc::disconnected,
                     "sending on socket fd " + std::to_string(fd) + ": the peer closed it", err);
      case EAGAIN: return Error(Errc::would_block);
      case EMSGSIZE:
        return Error(Errc::bad_length,
                     "sending " + std::to_string(bytes.size()) + " bytes on socket fd " +
                         std::to_string(fd) + ": too large for one message (EMSGSIZE)",
                     err);
      default: return os_error(err, "sending on socket fd " + std::to_string(fd));
    }
  }
  if (static_cast<std::size_t>(n) != bytes.size()) {
    return Error(Errc::system, "sending on socket fd " + std::to_string(fd) + ": only " +
                                   std::to_string(n) + " of " + std::to_string(bytes.size()) +
                                   " bytes went out");
  }
  return {};
}

Result<Received> recv_message(int fd, std::span<std::byte> buffer,
                              std::chrono::milliseconds timeout, Descriptors descriptors) {
  const bool accept_fds = descriptors == Descriptors::accept;
  const auto deadline = deadline_after(timeout);
  const bool forever = timeout.count() < 0;
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    int wait_ms = -1;
    if (!forever) {
      wait_ms = static_cast<int>(
          std::min<std::int64_t>(remaining(deadline).count(), std::numeric_limits<int>::max()));
    }
    const int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return os_error(errno, "waiting for a message on socket fd " + std::to_string(fd));
    }
    if (ready == 0) {
      if (timeout.count() == 0) return Error(Errc::would_block);
      if (remaining(deadline).count() > 0) continue;
      return Error(Errc::timed_out, "no message on socket fd " + std::to_string(fd) + " within " +
                                        std::to_string(timeout.count()) + " ms");
    }

    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) unsigned char control[kControlSpace] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    // Without a control buffer the kernel installs no descriptor here: any sent are dropped
    // and the message comes with MSG_CTRUNC.
    msg.msg_control = accept_fds ? control : nullptr;
    msg.msg_controllen = accept_fds ? sizeof control : 0;
    // MSG_TRUNC: return the real length of a message longer than the buffer.
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN) continue;  // EAGAIN: someone else took it
      if (err == ECONNRESET) {
        return Error(Errc::disconnected,
                     "socket fd " + std::to_string(fd) + ": the peer reset the connection", err);
      }
      return os_error(err, "receiving on socket fd " + std::to_string(fd));
    }

    Received received;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int received_fd = -1;
        std::memcpy(&received_fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        received.fds.emplace_back(received_fd);
      }
    }
    if (n == 0 && received.fds.empty()) {
      return Error(Errc::disconnected,
                   "socket fd " + std::to_string(fd) + ": the peer closed the connection");
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) {
      close_all(received.fds);
      return Error(Errc::bad_length, "a message of " + std::to_string(n) + " bytes on socket fd " +
                                         std::to_string(fd) + " does not fit the " +
                                         std::to_string(buffer.size()) +
                                         "-byte buffer: not the message the protocol expects");
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0 && !accept_fds) {
      return Error(Errc::bad_length, "a message on socket fd " + std::to_string(fd) +
                                         " carried descriptors, which it never does");
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
      close_all(received.fds);
      return Error(Errc::bad_length,
                   "a message on socket fd " + std::to_string(fd) + " carried more than " +
                       std::to_string(kMaxFds) +
                       " descriptors or a truncated control message; closed what arrived");
    }
    received.size = static_cast<std::size_t>(n);
    return received;
  }
}

Result<void> ensure_fd_limit(std::uint64_t needed) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return os_error(errno, "getrlimit(RLIMIT_NOFILE)");
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= needed) return {};
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < needed) {
    return Error(Errc::no_memory,
                 "ferry needs " + std::to_string(needed) +
                     " open descriptors, but this process may have at most " +
                     std::to_string(lim.rlim_max) + " (hard RLIMIT_NOFILE; soft " +
                     std::to_string(lim.rlim_cur) +
                     "): raise it (ulimit -Hn in the starting shell, or LimitNOFILE= in the "
                     "systemd unit), or allow fewer connections");
  }
  const rlim_t old_soft = lim.rlim_cur;
  lim.rlim_cur = static_cast<rlim_t>(needed);
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    const int err = errno;
    return os_error(err, "raising the soft RLIMIT_NOFILE from " + std::to_string(old_soft) +
                             " to " + std::to_string(needed) +
                             " (the kernel caps it at fs.nr_open)");
  }
  return {};
}

}  // namespace ferry::detail
