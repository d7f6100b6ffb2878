// SPDX-License-Identifier: Apache-2.0
// The kernel half of the sleep/wake protocol (waiting.hpp): futex, eventfd and socket.
#include "wait/waiting.hpp"

#include <linux/futex.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>

namespace ferry {

std::string_view to_string(WaitStrategy strategy) noexcept {
  switch (strategy) {
    case WaitStrategy::spin: return "spin";
    case WaitStrategy::block: return "block";
    case WaitStrategy::hybrid: return "hybrid";
  }
  return "unknown";
}

Result<WaitStrategy> parse_wait_strategy(std::string_view text) {
  if (text == "spin") return WaitStrategy::spin;
  if (text == "block") return WaitStrategy::block;
  if (text == "hybrid") return WaitStrategy::hybrid;
  return Error(Errc::invalid_argument,
               "unknown wait strategy '" + std::string(text) + "': use spin, block or hybrid");
}

namespace detail {

namespace {

// Shared (not FUTEX_PRIVATE): the word lives in memory mapped by several processes.
long futex(std::uint32_t* word, int op, std::uint32_t val, const timespec* timeout) noexcept {
  return syscall(SYS_futex, word, op, val, timeout, nullptr, 0);
}

}  // namespace

bool sleep_on(WaitBlock& wb, std::uint32_t seq, WakeFd wake, int hangup,
              std::int64_t timeout_ns) noexcept {
  if (wake.fd >= 0) {
    int ms = -1;
    if (timeout_ns >= 0) ms = static_cast<int>((timeout_ns + 999'999) / 1'000'000);
    if (wake.socket) {
      // The socket carries both the wakes and the hang-up.
      pollfd pfd{wake.fd, POLLIN | POLLRDHUP, 0};
      if (poll(&pfd, 1, ms) > 0) {
        if ((pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return false;
        if ((pfd.revents & POLLIN) != 0) return drain_wakes(wake.fd);
      }
      return true;
    }
    pollfd pfds[2] = {{wake.fd, POLLIN, 0}, {hangup, POLLIN | POLLRDHUP, 0}};
    if (poll(pfds, hangup >= 0 ? 2 : 1, ms) > 0) {
      if (pfds[0].revents != 0) {
        std::uint64_t count = 0;
        // Drain; the descriptor is non-blocking, so a concurrent drain just gets EAGAIN.
        [[maybe_unused]] const ssize_t n = read(wake.fd, &count, sizeof count);
      }
      if (hangup >= 0 && pfds[1].revents != 0) return false;
    }
    return true;
  }
  timespec ts{};
  const timespec* tp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    tp = &ts;
  }
  // Returns at once (EAGAIN) if seq moved since the waiter read it; EINTR and
  // spurious wake-ups just send the caller round its loop.
  futex(wb.seq.futex_word(), FUTEX_WAIT, seq, tp);
  return true;
}

bool hung_up(int fd) noexcept {
  pollfd pfd{fd, POLLIN | POLLRDHUP, 0};
  return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void signal_wake(WakeFd wake) noexcept {
  if (wake.socket) {
    // MSG_DONTWAIT: whatever the peer did to its end, or if it never reads, we do not wait
    // (a full socket already holds wakes enough). MSG_NOSIGNAL: a closed peer is no SIGPIPE.
    const char one = 'w';
    [[maybe_unused]] const ssize_t n = send(wake.fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    return;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake.fd, &one, sizeof one);
}

SocketRead read_socket(int fd) noexcept {
  // Two bytes each, so that a longer message shows (MSG_TRUNC); no control buffer, so no
  // descriptor a peer sends is ever installed here (the kernel drops them: MSG_CTRUNC).
  std::array<std::array<char, 2>, kWakesPerRead> bufs{};
  std::array<iovec, kWakesPerRead> iovs{};
  std::array<mmsghdr, kWakesPerRead> msgs{};
  for (unsigned i = 0; i < kWakesPerRead; ++i) {
    iovs[i] = iovec{bufs[i].data(), bufs[i].size()};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  SocketRead got;
  const int n = recvmmsg(fd, msgs.data(), kWakesPerRead, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return got;
    (errno == ECONNRESET ? got.gone : got.bad) = true;
    return got;
  }
  for (int i = 0; i < n; ++i) {
    const mmsghdr& m = msgs[static_cast<std::size_t>(i)];
    if (m.msg_len == 0) {
      got.gone = true;
      return got;
    }
    if (m.msg_len != 1 || (m.msg_hdr.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) != 0) {
      got.bad = true;
      return got;
    }
    ++got.wakes;
  }
  got.full = n == static_cast<int>(kWakesPerRead);
  return got;
}

bool drain_wakes(int fd) noexcept {
  for (;;) {
    const SocketRead got = read_socket(fd);
    if (got.gone || got.bad) return false;
    if (!got.full) return true;
  }
}

bool wake_sleeper(WaitBlock& wb, std::uint64_t progress, WakeFd wake) noexcept {
  if (progress < wb.want.load(std::memory_order_relaxed)) return false;
  // Only one wake per sleep: whoever clears the flag makes the syscall.
  if (wb.sleeping.exchange(0, std::memory_order_acq_rel) == 0) return false;
  // Release: a waiter that sees the new seq also sees the publish before it.
  wb.seq.fetch_add(1, std::memory_order_release);
  if (wake.fd >= 0) {
    signal_wake(wake);
  } else {
    futex(wb.seq.futex_word(), FUTEX_WAKE, 1, nullptr);
  }
  return true;
}

}  // namespace detail
}  // namespace ferry
