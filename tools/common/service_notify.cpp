// SPDX-License-Identifier: Apache-2.0
// tools/common/service_notify.cpp: the sd_notify(3) datagram protocol, spoken directly
// (service_notify.hpp).
//
// Why not libsystemd's sd_notify(): ferryd is linked statically with a small footprint
// (FERRY_STATIC_DAEMON), and Debian ships libsystemd as a shared library only, which ferryd
// would map at every start for one datagram. The protocol is small and stable (systemd
// documents it as an interface: "Notification socket protocol" in sd_notify(3)): one
// datagram of "KEY=VALUE" lines to the AF_UNIX socket in $NOTIFY_SOCKET, whose name is a
// path, or an abstract name written with a leading '@'.
#include "common/service_notify.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ferry/result.hpp"

namespace ferry::tools {

ferry::Result<void> notify_service_manager(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || *env == '\0') return {};
  const std::string name = env;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((name.front() != '/' && name.front() != '@') || name.size() >= sizeof addr.sun_path) {
    return ferry::Error(ferry::Errc::invalid_argument,
                        "NOTIFY_SOCKET=" + name +
                            ": ferryd understands a socket path or an @abstract name of at "
                            "most " +
                            std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, name.data(), name.size());
  // An abstract name starts with a NUL byte and has no terminating one.
  auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  if (name.front() == '@') {
    addr.sun_path[0] = '\0';
    --length;
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return ferry::Error::from_errno(errno, "creating a socket to notify the service manager");
  }
  ssize_t sent = 0;
  do {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API.
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), length);
  } while (sent < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (sent < 0) {
    return ferry::Error::from_errno(
        err, "sending " + std::string(state) + " to the service manager at NOTIFY_SOCKET=" + name);
  }
  return {};
}

namespace {
int g_ready_fd = -1;  // in a child of start_in_background(): the pipe its parent reads
}  // namespace

ferry::Result<void> start_in_background() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "--background: pipe");
  const pid_t child = ::fork();
  if (child < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return Error::from_errno(err, "--background: fork");
  }
  if (child == 0) {
    ::close(fds[0]);
    g_ready_fd = fds[1];
    return {};
  }
  ::close(fds[1]);
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(fds[0], &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) ::_exit(0);  // ready: the child carries on
  // The child ended before it was ready: its status is ours.
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

void background_ready() noexcept {
  if (g_ready_fd < 0) return;
  const char byte = 1;
  while (::write(g_ready_fd, &byte, 1) < 0 && errno == EINTR) {
  }
  ::close(g_ready_fd);
  g_ready_fd = -1;
}

}  // namespace ferry::tools
