// SPDX-License-Identifier: Apache-2.0
// bench/workload/uds_frames.cpp: framing and blocking socket helpers (uds_frames.hpp).
#include "workload/uds_frames.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "ferry/session.hpp"

namespace ferry::bench {

std::span<std::byte> FrameBuffer::space() {
  if (buf_.empty())
    buf_.resize(std::max<std::size_t>(std::size_t{64} * 1024, 2 * (kLengthBytes + max_payload_)));
  if (begin_ == end_) begin_ = end_ = 0;
  // The frame being received must fit after begin_; move it to the front when the tail
  // is short of room for it (and of 4 KiB to read more into).
  std::size_t want = 4096;
  if (end_ - begin_ >= kLengthBytes) {
    std::uint32_t len = 0;
    std::memcpy(&len, buf_.data() + begin_, sizeof len);
    want = std::max<std::size_t>(
        want, kLengthBytes + std::min<std::size_t>(len, max_payload_) - (end_ - begin_));
  }
  if (buf_.size() - end_ < want && begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  return std::span<std::byte>(buf_).subspan(end_);
}

std::optional<std::span<const std::byte>> FrameBuffer::take() {
  if (broken_ || end_ - begin_ < kLengthBytes) return std::nullopt;
  std::uint32_t len = 0;
  std::memcpy(&len, buf_.data() + begin_, sizeof len);
  if (len > max_payload_) {
    broken_ = true;
    return std::nullopt;
  }
  if (end_ - begin_ < kLengthBytes + len) return std::nullopt;
  const std::span<const std::byte> payload(buf_.data() + begin_ + kLengthBytes, len);
  begin_ += kLengthBytes + len;
  return payload;
}

Result<std::string> uds_socket_path(const Options& options, bool create) {
  auto dir = session_dir(options.session, create);
  if (!dir) return dir.error();
  return endpoint_socket_path(*dir, options.endpoint);
}

Result<int> uds_connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Error(Errc::invalid_argument, "socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno(errno, "socket(AF_UNIX, SOCK_STREAM)");
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {  // NOLINT
    const int err = errno;
    ::close(fd);
    return Error::from_errno(err, "connecting to " + path);
  }
  return fd;
}

namespace {

iovec bytes_iovec(std::span<const std::byte> bytes) {
  return {const_cast<std::byte*>(bytes.data()), bytes.size()};  // NOLINT
}

// Blocks until every byte of `iov` is sent.
Result<void> send_all(int fd, std::span<iovec> iov) {
  msghdr msg{};
  msg.msg_iov = iov.data();
  msg.msg_iovlen = iov.size();
  std::size_t left = 0;
  for (const iovec& v : iov) left += v.iov_len;
  while (left > 0) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        return Error(Errc::disconnected, "the server closed the socket");
      }
      return Error::from_errno(errno, "sending on the socket");
    }
    auto done = static_cast<std::size_t>(n);
    left -= done;
    // Skip what went out (rare: a blocking stream socket usually takes it all).
    while (done > 0 && msg.msg_iovlen > 0) {
      const std::size_t step = std::min(done, msg.msg_iov->iov_len);
      msg.msg_iov->iov_base = static_cast<char*>(msg.msg_iov->iov_base) + step;
      msg.msg_iov->iov_len -= step;
      done -= step;
      if (msg.msg_iov->iov_len == 0) {
        ++msg.msg_iov;
        --msg.msg_iovlen;
      }
    }
  }
  return {};
}

void put_length(std::byte* at, std::size_t size) {
  const auto len = static_cast<std::uint32_t>(size);  // little-endian hosts only
  std::memcpy(at, &len, sizeof len);
}

}  // namespace

Result<void> uds_send_frame(int fd, std::span<const std::byte> payload) {
  std::array<std::byte, kLengthBytes> prefix{};
  put_length(prefix.data(), payload.size());
  std::array<iovec, 2> iov{bytes_iovec(prefix), bytes_iovec(payload)};
  return send_all(fd, iov);
}

std::span<std::byte> uds_append_frame(std::vector<std::byte>& frames, std::size_t size) {
  const std::size_t at = frames.size();
  frames.resize(at + kLengthBytes + size);
  put_length(frames.data() + at, size);
  return std::span<std::byte>(frames).subspan(at + kLengthBytes, size);
}

Result<void> uds_send_bytes(int fd, std::span<const std::byte> frames) {
  std::array<iovec, 1> iov{bytes_iovec(frames)};
  return send_all(fd, iov);
}

Result<std::span<const std::byte>> uds_read_frame(int fd, FrameBuffer& in) {
  for (;;) {
    if (auto frame = in.take()) return *frame;
    if (in.broken()) return Error(Errc::corrupt, "the server sent a frame longer than allowed");
    const std::span<std::byte> room = in.space();
    const ssize_t n = ::read(fd, room.data(), room.size());
    if (n > 0) {
      in.filled(static_cast<std::size_t>(n));
    } else if (n == 0) {
      return Error(Errc::disconnected, "the server closed the socket");
    } else if (errno != EINTR) {
      return Error::from_errno(errno, "reading from the socket");
    }
  }
}

}  // namespace ferry::bench
