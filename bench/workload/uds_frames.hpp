// SPDX-License-Identifier: Apache-2.0
// bench/workload/uds_frames.hpp: the Unix-socket baseline's framing and socket helpers.
//
// SOCK_STREAM sockets in the session's runtime directory; each message is a 4-byte
// little-endian payload length and the payload. Clients use blocking I/O; the server
// reads non-blocking sockets under epoll (uds_roles.cpp).
//
// Thread-safety: a FrameBuffer belongs to one connection, used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ferry/result.hpp"
#include "workload/options.hpp"

namespace ferry::bench {

inline constexpr std::size_t kLengthBytes = 4;

// Frames arriving on one stream socket, as read.
class FrameBuffer {
 public:
  // `max_payload`: a longer length means the stream is broken.
  explicit FrameBuffer(std::size_t max_payload) : max_payload_(max_payload) {}

  // Room to read into: at least what the frame being received still needs.
  std::span<std::byte> space();
  void filled(std::size_t n) noexcept { end_ += n; }
  // The next complete frame's payload, if one is buffered; valid until space() is called.
  std::optional<std::span<const std::byte>> take();
  // A length over the limit arrived: nothing after it can be trusted.
  bool broken() const noexcept { return broken_; }

 private:
  std::vector<std::byte> buf_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t max_payload_;
  bool broken_ = false;
};

// <session dir>/<endpoint>.sock; with `create`, the directory is made if missing.
Result<std::string> uds_socket_path(const Options& options, bool create);
// A blocking client socket connected to `path`.
Result<int> uds_connect(const std::string& path);
// Sends one frame (length, then payload) with one sendmsg() where the kernel takes it
// whole; blocks until it is all sent.
Result<void> uds_send_frame(int fd, std::span<const std::byte> payload);
// Appends a frame of `size` payload bytes to `frames`; returns its payload, to fill.
std::span<std::byte> uds_append_frame(std::vector<std::byte>& frames, std::size_t size);
// Sends bytes already framed, as uds_send_frame() sends one frame.
Result<void> uds_send_bytes(int fd, std::span<const std::byte> frames);
// Blocks until `in` holds a whole frame from `fd`; returns its payload.
Result<std::span<const std::byte>> uds_read_frame(int fd, FrameBuffer& in);

}  // namespace ferry::bench
