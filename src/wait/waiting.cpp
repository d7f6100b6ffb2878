// SPDX-License-Identifier: Apache-2.0
// The kernel half of the sleep/wake protocol (waiting.hpp): futex, eventfd and socket.
#include "wait/waiting.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <optional>
#include <string>

#include "ferry/ring.hpp"

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

// SO_RCVTIMEO counts in the kernel's ticks, rounded up (up to 10 ms at HZ=100); poll's
// timeout is precise. A read's limit stays a tick short of the time left.
constexpr std::int64_t kTickNs = 10'000'000;

// Sleeps in a blocking read of the socket `fd`, so that waking and taking the wakes are one
// system call, not two (poll, then recvmmsg). SO_RCVTIMEO bounds the read: a power of two
// nanoseconds a tick short of the time left, kept while it still covers more than half of
// what is left, so that most sleeps set nothing; reading early just sends the caller round
// its loop. Returns whether the peer is still there, or nothing when the caller must poll
// for `timeout_ns` (updated to what is left): too little time left for the read's coarse
// limit, a read that ended empty (its limit passed, or a signal came), or a socket that
// does not block.
std::optional<bool> sleep_in_read(SocketSleep& s, int fd, std::int64_t& timeout_ns) noexcept {
  if (s.blocking < 0) {
    const int flags = fcntl(fd, F_GETFL);
    s.blocking = flags >= 0 && (flags & O_NONBLOCK) == 0 ? 1 : 0;
  }
  if (s.blocking == 0) return std::nullopt;
  std::int64_t limit = 0;  // none
  if (timeout_ns >= 0) {
    if (timeout_ns < 2 * kTickNs) return std::nullopt;
    const std::int64_t usable = timeout_ns - kTickNs;
    limit = s.rcvtimeo_ns > 0 && s.rcvtimeo_ns <= usable && 2 * s.rcvtimeo_ns > usable
                ? s.rcvtimeo_ns
                : static_cast<std::int64_t>(std::bit_floor(static_cast<std::uint64_t>(usable)));
  }
  if (limit != s.rcvtimeo_ns) {
    const timeval tv{static_cast<time_t>(limit / 1'000'000'000),
                     static_cast<suseconds_t>(limit % 1'000'000'000 / 1000)};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
      s.blocking = 0;  // not a socket that takes one: poll it from now on
      return std::nullopt;
    }
    s.rcvtimeo_ns = limit;
  }
  const std::int64_t start = timeout_ns >= 0 ? monotonic_ns() : 0;
  const SocketRead got = read_socket(fd, true);
  if (got.gone || got.bad) return false;
  if (got.full) return drain_wakes(fd);
  if (got.wakes > 0) return true;
  if (timeout_ns >= 0)
    timeout_ns = std::max<std::int64_t>(0, timeout_ns - (monotonic_ns() - start));
  return std::nullopt;
}

}  // namespace

bool sleep_on(WaitBlock& wb, std::uint32_t seq, WakeFd wake, int hangup,
              std::int64_t timeout_ns) noexcept {
  if (wake.fd >= 0) {
    if (wake.socket && wake.sleep != nullptr) {
      if (const auto alive = sleep_in_read(*wake.sleep, wake.fd, timeout_ns)) return *alive;
    }
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

SocketRead read_socket(int fd, bool wait_for_one) noexcept {
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
  const int n = recvmmsg(fd, msgs.data(), kWakesPerRead,
                         wait_for_one ? MSG_WAITFORONE : MSG_DONTWAIT, nullptr);
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
