// SPDX-License-Identifier: Apache-2.0
// bench/workload/uds_roles.cpp: the participants over Unix stream sockets, the baseline
// (roles.hpp, uds_frames.hpp).
//
// The server accepts on a listening socket and reads its non-blocking connections under
// level-triggered epoll, one read per ready connection per turn, many frames per read.
// Clients write one frame per message with one sendmsg() and read with blocking I/O.
// End markers are 16-byte frames; the server acknowledges each with an empty frame.
// fanout: the server is a relay, ferryd's counterpart: a subscriber says so with an empty
// frame and is answered with one, and every frame the publisher sends goes to every
// subscriber; while a subscriber
// has more than kBacklog bytes waiting, the relay stops reading the publisher (backpressure,
// as a full ring holds a ferry publisher back). The end marker is relayed, not acknowledged.
// Nothing here spins: --wait does not apply, and results say "block".
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "ferry/unique_fd.hpp"
#include "workload/client_loop.hpp"
#include "workload/receiver.hpp"
#include "workload/roles.hpp"
#include "workload/uds_frames.hpp"

namespace ferry::bench {

namespace {

constexpr std::int64_t kLingerNs = 5'000'000'000;
// fanout: the relay stops reading the publisher while a subscriber has this much queued.
constexpr std::size_t kBacklog = 1 << 20;

class UdsConn {
 public:
  UdsConn(UniqueFd fd, const Options& o)
      : fd_(std::move(fd)),
        message_(o.size),
        in_(o.size),
        publish_(o.scenario == Scenario::fanout) {}

  Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns,
                    Publish publish = Publish::now) {
    if (publish == Publish::now && staged_.empty()) {
      fill_payload(message_, producer, seq, stamp_ns);
      return uds_send_frame(fd_.get(), message_);
    }
    fill_payload(uds_append_frame(staged_, message_.size()), producer, seq, stamp_ns);
    if (publish == Publish::later) return {};
    return flush();
  }

  // Sends the frames staged with Publish::later, in one sendmsg() where the kernel takes it.
  Result<void> flush() {
    if (staged_.empty()) return {};
    auto sent = uds_send_bytes(fd_.get(), staged_);
    staged_.clear();
    return sent;
  }

  Result<std::span<const std::byte>> request(std::span<const std::byte> payload) {
    if (auto r = uds_send_frame(fd_.get(), payload); !r) return r.error();
    return uds_read_frame(fd_.get(), in_);
  }

  Result<void> finish(std::uint32_t producer, std::uint64_t next_seq) {
    if (auto r = flush(); !r) return r.error();
    const auto end = encode_end(producer, next_seq);
    if (auto r = uds_send_frame(fd_.get(), end); !r) return r.error();
    if (publish_) return {};  // relayed behind the data, not acknowledged
    auto ack = uds_read_frame(fd_.get(), in_);
    if (!ack) return ack.error();
    return {};
  }

 private:
  UniqueFd fd_;
  std::vector<std::byte> message_;
  std::vector<std::byte> staged_;  // frames sent with Publish::later
  FrameBuffer in_;
  bool publish_;
};

// One accepted connection on the server.
struct Peer {
  explicit Peer(UniqueFd socket, std::size_t size) : fd(std::move(socket)), in(size) {}
  UniqueFd fd;
  FrameBuffer in;
  std::vector<std::byte> out;  // what a full socket did not take yet
  bool writing = false;        // EPOLLOUT armed
  bool ended = false;          // sent its end marker (fanout: was sent the end marker)
  bool subscriber = false;     // fanout: said it subscribes
};

class UdsServer {
 public:
  UdsServer(const Options& options, Receiver& rx) : o_(options), rx_(rx) {}

  Result<void> open();
  Result<void> run();
  const std::string& path() const noexcept { return path_; }
  std::uint64_t relayed() const noexcept { return relayed_; }

 private:
  void accept_all();
  void on_readable(Peer& peer);
  void queue(Peer& peer, std::span<const std::byte> payload);
  void flush(Peer& peer);
  void drop(int fd);
  void relay(Peer& from, std::span<const std::byte> frame);
  void watch(Peer& peer);

  const Options& o_;
  Receiver& rx_;
  std::string path_;
  UniqueFd listen_;
  UniqueFd epoll_;
  std::unordered_map<int, std::unique_ptr<Peer>> peers_;
  std::uint32_t ended_and_gone_ = 0;
  bool fanout_ = o_.scenario == Scenario::fanout;
  Peer* paused_ = nullptr;  // fanout: the publisher, while a subscriber's backlog is full
  bool relayed_end_ = false;
  std::uint64_t relayed_ = 0;  // fanout: frames the publisher sent, relayed to everyone
};

Result<void> UdsServer::open() {
  auto path = uds_socket_path(o_, true);
  if (!path) return path.error();
  path_ = *path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr.sun_path) {
    return Error(Errc::invalid_argument, "socket path too long: " + path_);
  }
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  listen_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (listen_.get() < 0) return Error::from_errno(errno, "socket(AF_UNIX, SOCK_STREAM)");
  if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) !=
      0) {  // NOLINT
    const int err = errno;
    path_.clear();  // not ours: never unlink it
    return Error::from_errno(err, "binding " + std::string(addr.sun_path));
  }
  if (::listen(listen_.get(), 4096) != 0) return Error::from_errno(errno, "listen on " + path_);
  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (epoll_.get() < 0) return Error::from_errno(errno, "epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_.get();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &ev) != 0) {
    return Error::from_errno(errno, "epoll_ctl");
  }
  return {};
}

void UdsServer::accept_all() {
  for (;;) {
    UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.get() < 0) return;  // EAGAIN: all taken (or a transient error: try next time)
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) continue;
    const int key = fd.get();
    peers_[key] = std::make_unique<Peer>(std::move(fd), o_.size);
  }
}

void UdsServer::drop(int fd) {
  auto it = peers_.find(fd);
  if (it == peers_.end()) return;
  if (it->second->ended) ++ended_and_gone_;
  if (it->second.get() == paused_) paused_ = nullptr;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  peers_.erase(it);
}

void UdsServer::flush(Peer& peer) {
  while (!peer.out.empty()) {
    const ssize_t n =
        ::send(peer.fd.get(), peer.out.data(), peer.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) peer.out.clear();  // the client is gone; its hang-up follows
      break;
    }
    peer.out.erase(peer.out.begin(), peer.out.begin() + n);
  }
  const bool want = !peer.out.empty();
  if (want != peer.writing) {
    peer.writing = want;
    watch(peer);
  }
  // fanout: the publisher may go on once no subscriber's backlog is full.
  if (paused_ != nullptr && peer.out.size() <= kBacklog) {
    const bool full = std::any_of(peers_.begin(), peers_.end(), [](const auto& p) {
      return p.second->subscriber && p.second->out.size() > kBacklog;
    });
    if (!full) {
      Peer* publisher = std::exchange(paused_, nullptr);
      watch(*publisher);
    }
  }
}

void UdsServer::watch(Peer& peer) {
  epoll_event ev{};
  ev.events = EPOLLRDHUP | (&peer == paused_ ? 0u : EPOLLIN) | (peer.writing ? EPOLLOUT : 0u);
  ev.data.fd = peer.fd.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, peer.fd.get(), &ev);
}

void UdsServer::relay(Peer& from, std::span<const std::byte> frame) {
  ++relayed_;
  bool full = false;
  for (auto& [fd, peer] : peers_) {
    if (!peer->subscriber) continue;
    queue(*peer, frame);
    full = full || peer->out.size() > kBacklog;
  }
  if (frame.size() == kEndBytes) {
    relayed_end_ = true;
    for (auto& [fd, peer] : peers_) peer->ended = peer->ended || peer->subscriber;
  }
  if (full && paused_ == nullptr) {
    paused_ = &from;
    watch(from);
  }
}

void UdsServer::queue(Peer& peer, std::span<const std::byte> payload) {
  const auto len = static_cast<std::uint32_t>(payload.size());
  std::array<std::byte, kLengthBytes> prefix{};
  std::memcpy(prefix.data(), &len, sizeof len);
  std::size_t sent = 0;
  if (peer.out.empty()) {
    std::array<iovec, 2> iov{iovec{prefix.data(), prefix.size()},
                             iovec{const_cast<std::byte*>(payload.data()),  // NOLINT
                                   payload.size()}};
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = iov.size();
    ssize_t n = 0;
    do {
      n = ::sendmsg(peer.fd.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN) return;  // the client is gone; its hang-up follows
    sent = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  if (sent == kLengthBytes + payload.size()) return;
  // Keep the rest for when the socket has room.
  if (sent < kLengthBytes) peer.out.insert(peer.out.end(), prefix.begin() + sent, prefix.end());
  const std::size_t from = sent > kLengthBytes ? sent - kLengthBytes : 0;
  peer.out.insert(peer.out.end(), payload.begin() + static_cast<std::ptrdiff_t>(from),
                  payload.end());
  flush(peer);
}

void UdsServer::on_readable(Peer& peer) {
  const int key = peer.fd.get();
  const std::span<std::byte> room = peer.in.space();
  const ssize_t n = ::read(key, room.data(), room.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    drop(key);
    return;
  }
  peer.in.filled(static_cast<std::size_t>(n));
  while (auto frame = peer.in.take()) {
    if (fanout_) {
      if (frame->empty()) {
        peer.subscriber = true;
        queue(peer, {});  // from now on it gets every frame: it may say it is ready
      } else {
        relay(peer, *frame);
      }
    } else if (frame->size() == kEndBytes) {
      rx_.on_end(*frame);
      peer.ended = true;
      queue(peer, {});
    } else if (o_.request_reply()) {
      queue(peer, rx_.on_request(*frame));
      rx_.accept();
    } else {
      rx_.on_data(*frame, tools::now_ns());
    }
  }
  if (peer.in.broken()) {
    rx_.count_error();  // a length no client writes: the stream is lost
    drop(key);
  }
}

Result<void> UdsServer::run() {
  std::array<epoll_event, 128> events{};
  std::int64_t finished_at = 0;
  while (!stop_requested()) {
    if (fanout_ ? relayed_end_ : rx_.finished()) {
      const std::int64_t now = tools::now_ns();
      if (finished_at == 0) finished_at = now;
      if (ended_and_gone_ >= o_.clients || now - finished_at > kLingerNs) break;
    }
    const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                               finished_at != 0 ? 100 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(errno, "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<std::size_t>(i)];
      if (ev.data.fd == listen_.get()) {
        accept_all();
        continue;
      }
      auto it = peers_.find(ev.data.fd);
      if (it == peers_.end()) continue;
      Peer& peer = *it->second;
      if ((ev.events & EPOLLOUT) != 0) flush(peer);
      if ((ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) on_readable(peer);
    }
  }
  return {};
}

}  // namespace

int run_uds_server(RoleContext& ctx) {
  set_process_name("bench-server");
  install_stop_handlers();
  Receiver rx(ctx.options(), ctx.state());
  UdsServer server(ctx.options(), rx);
  auto opened = server.open();
  if (!opened) {
    if (!server.path().empty()) ::unlink(server.path().c_str());
    return ctx.fail(opened.error());
  }
  ctx.say("ready");
  auto ran = server.run();
  ::unlink(server.path().c_str());
  if (!ran) return ctx.fail(ran.error());
  Report report = rx.report();
  if (ctx.options().scenario == Scenario::fanout) report.msgs = server.relayed();
  ctx.say(report.encode());
  return 0;
}

int run_uds_client(RoleContext& ctx) {
  const Options& o = ctx.options();
  const bool publisher = o.role == Role::publisher;
  set_process_name(publisher ? "bench-publisher" : "bench-client");
  auto path = uds_socket_path(o, false);
  if (!path) return ctx.fail(path.error());
  auto fd = uds_connect(*path);
  if (!fd) return ctx.fail(fd.error());
  UniqueFd socket(*fd);
  if (o.scenario == Scenario::fanout && !publisher) {  // a subscriber
    // Subscribed once the relay answers: a subscriber that said ready before the relay knew
    // it missed the publisher's first frames (seen beside CPU hogs).
    FrameBuffer in(o.size);
    if (auto r = uds_send_frame(socket.get(), {}); !r) return ctx.fail(r.error());
    if (auto ack = uds_read_frame(socket.get(), in); !ack || !ack->empty()) {
      return ctx.fail(ack ? Error(Errc::corrupt, "the relay answered with data, not an ack")
                          : ack.error());
    }
    Receiver rx(o, ctx.state(), 1 + o.id);
    ctx.say("ready");
    ctx.wait_for_go();
    while (!rx.finished()) {
      auto frame = uds_read_frame(socket.get(), in);
      if (!frame) return ctx.fail(frame.error());
      if (frame->size() == kEndBytes) {
        rx.on_end(*frame);
      } else {
        rx.on_data(*frame, tools::now_ns());
      }
    }
    ctx.say(rx.report().encode());
    return 0;
  }
  UdsConn conn(std::move(socket), o);
  ctx.say("ready");
  return run_client(ctx, conn);
}

int run_uds_idle(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-idle");
  auto path = uds_socket_path(o, false);
  if (!path) return ctx.fail(path.error());
  std::vector<UniqueFd> idle;
  idle.reserve(o.idle);
  for (std::uint32_t i = 0; i < o.idle; ++i) {
    auto fd = uds_connect(*path);
    if (!fd) return ctx.fail(fd.error());
    idle.emplace_back(*fd);
  }
  ctx.say("ready");
  ctx.wait_for_go();  // the orchestrator closes our pipe when the run is over
  ctx.say(Report{}.encode());
  return 0;
}

}  // namespace ferry::bench
