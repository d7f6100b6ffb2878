// SPDX-License-Identifier: Apache-2.0
// unix_socket.hpp: the control plane's Unix-domain sockets (SOCK_SEQPACKET): listening,
// connecting with errors that name the path, descriptor passing (SCM_RIGHTS) and peer
// credentials (SO_PEERCRED, SO_PEERGROUPS).
// Thread-safety: plain functions on descriptors the caller owns.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/result.hpp"
#include "ferry/unique_fd.hpp"

namespace ferry::detail {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS)
};

// Binds and listens on a SOCK_SEQPACKET socket at `path` (non-blocking, close-on-exec;
// the socket file gets `mode`). The file appears at `path` only once the socket listens: it
// is bound under a temporary name in the same directory (temporary_socket_name()), given
// its mode, made to listen and then renamed to `path`. So a client that sees the file can
// connect, and nobody ever finds a bound socket at `path` that refuses connections. A
// leftover socket file nobody listens on is replaced; one a live server listens on is
// Errc::exists ("another server is already listening at <path>"); a file that is not a
// socket is Errc::exists too and is never removed.
Result<UniqueFd> listen_seqpacket(const std::string& path, int backlog, mode_t mode = 0600);

// The temporary name listen_seqpacket() binds before it renames the socket into place:
// ".ferry-tmp.<pid>.<n>", in the directory of the final path. It never ends in ".sock" or
// ".lock", so it is not taken for an endpoint; one a killed process left behind is a socket
// nobody listens on, which cleanup_session() removes.
std::string temporary_socket_name(pid_t pid, unsigned n);
// Whether a directory entry has the form of temporary_socket_name().
bool is_temporary_socket_name(std::string_view name);

// Accepts one pending connection (non-blocking, close-on-exec); would_block when none.
Result<UniqueFd> accept_connection(int listen_fd);

// Whether `path` is a socket nobody listens on (connect() is refused): a dead server's.
bool nobody_listens(const std::string& path);

// Connects to the endpoint at `path` (blocking, close-on-exec), retrying a full backlog
// until `timeout`. Errors name the path: not_found when no socket exists ("no ferry
// endpoint at <path>: is the server running in this session?"), not_found when nothing
// listens ("nothing is listening at <path>: its server has exited"), permission, timed_out.
Result<UniqueFd> connect_seqpacket(const std::string& path, std::chrono::milliseconds timeout);

Result<PeerCredentials> peer_credentials(int fd);

// Sends one message with up to kMaxFds descriptors (SCM_RIGHTS). MSG_NOSIGNAL: a closed
// peer is Errc::disconnected, not SIGPIPE.
inline constexpr std::size_t kMaxFds = 8;
Result<void> send_message(int fd, std::span<const std::byte> bytes, std::span<const int> fds = {});

struct Received {
  std::size_t size = 0;
  std::vector<UniqueFd> fds;
};
// Receives one message and, with Descriptors::accept, the descriptors it carries
// (MSG_CMSG_CLOEXEC), waiting up to `timeout` (0: would_block if none is there). A message
// longer than `buffer` is bad_length; descriptors beyond kMaxFds or a truncated control
// message are bad_length too (and every descriptor that did arrive is closed). With
// Descriptors::refuse no descriptor is ever installed in this process (a peer that sends
// some gets bad_length). A closed peer is disconnected.
enum class Descriptors : bool { refuse, accept };
Result<Received> recv_message(int fd, std::span<std::byte> buffer,
                              std::chrono::milliseconds timeout,
                              Descriptors descriptors = Descriptors::accept);

// Raises the soft RLIMIT_NOFILE to at least `needed` descriptors (up to the hard limit).
// When the hard limit is lower, no_memory naming both limits and the fix (ulimit -n, or
// LimitNOFILE= in a systemd unit).
Result<void> ensure_fd_limit(std::uint64_t needed);

}  // namespace ferry::detail
