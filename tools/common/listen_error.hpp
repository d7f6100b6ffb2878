// SPDX-License-Identifier: Apache-2.0
// tools/common/listen_error.hpp: why a Prometheus exporter (prometheus-cpp's Exposer, over
// civetweb) could not listen, in words a person can act on. civetweb says only "null context
// when constructing CivetServer. Possible problem binding to port." for every cause; this
// binds the same IPv4 address the same way (SO_REUSEADDR) to learn the real one ("Address
// already in use", "Cannot assign requested address", "Permission denied").
// Header-only: ferryd's metrics module (a shared object of its own) and ferry-bridge use it.
// Thread-safety: a plain function.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>

namespace ferry::tools {

// "cannot listen on LISTEN: CAUSE" for an Exposer that threw `what` for "ADDRESS:PORT".
inline std::string listen_error(const std::string& listen, const char* what) {
  std::string cause = what;
  const std::size_t colon = listen.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  std::uint16_t port = 0;
  // (Called from a catch block, in ferryd's module behind a C interface: nothing may throw.)
  if (colon != std::string::npos &&
      ::inet_pton(AF_INET, listen.substr(0, colon).c_str(), &addr.sin_addr) == 1 &&
      std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port).ec ==
          std::errc{}) {
    addr.sin_port = htons(port);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      const int on = 1;
      (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {  // NOLINT
        cause = std::strerror(errno);
      }
      ::close(fd);
    }
  }
  return "cannot listen on " + listen + ": " + cause;
}

}  // namespace ferry::tools
