// SPDX-License-Identifier: Apache-2.0
// ferry::Server: opening the endpoint, accepting, the handshake and hang-ups
// (docs/protocol.md). The loop is in server.cpp.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <new>
#include <string>

#include "control/handshake.hpp"
#include "ferry/session.hpp"
#include "server/server_impl.hpp"
#include "wait/waiting.hpp"

namespace ferry {

namespace {

constexpr std::uint32_t kMaxSlots = 65536;
// Descriptors one connection holds in the server: its socket and the segment's memfd (kept
// for observers), plus slack for the handshake.
constexpr std::uint64_t kFdsPerConnection = 3;
// Messages read from one connection's socket per event (wakes; more wait for the next).
constexpr unsigned kReadsPerEvent = 64;
constexpr std::uint64_t kFdsSpare = 64;

Result<void> epoll_add(int epoll, int fd, std::uint64_t tag, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Error::from_errno(errno, "watching descriptor " + std::to_string(fd) + " (epoll_ctl)");
  }
  return {};
}

}  // namespace

Result<void> Server::Impl::open() {
  if (options_.max_connections == 0 || options_.max_connections > kMaxSlots) {
    return Error(Errc::invalid_argument, "max_connections " +
                                             std::to_string(options_.max_connections) +
                                             " must be between 1 and 65536");
  }
  if (options_.batch == 0) return Error(Errc::invalid_argument, "batch must be at least 1");
  auto session = resolve_session(options_.session);
  if (!session) return session.error();
  session_ = *session;
  Result<std::string> path = options_.socket_path;
  if (options_.socket_path.empty()) {
    auto dir = session_dir(session_, true);
    if (!dir) return dir.error();
    path = endpoint_socket_path(*dir, options_.endpoint);
    if (!path) return path.error();
  } else if (auto ok = check_socket_dir(options_.socket_path, false); !ok) {
    return ok.error();
  }

  // Descriptors: each connection needs a few; without them, accept() would fail with no
  // way to tell the client why. Lower the limit we accept rather than fail later.
  const std::uint64_t needed = options_.max_connections * kFdsPerConnection + kFdsSpare;
  if (auto r = detail::ensure_fd_limit(needed); !r) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    const std::uint64_t fit =
        lim.rlim_cur > kFdsSpare ? (lim.rlim_cur - kFdsSpare) / kFdsPerConnection : 0;
    if (fit == 0) return r.error();
    fd_limit_note_ = "lowered from " + std::to_string(options_.max_connections) +
                     " by the descriptor limit RLIMIT_NOFILE=" + std::to_string(lim.rlim_cur) +
                     "; raise it with ulimit -n or LimitNOFILE=";
    options_.max_connections = static_cast<std::uint32_t>(fit);
  }

  auto doorbell = detail::create_doorbell(options_.max_connections);
  if (!doorbell) return doorbell.error();
  doorbell_ = std::move(*doorbell);
  auto view = detail::view_doorbell(doorbell_, 0);
  if (!view) return view.error();
  bell_ = *view;
  auto wake = detail::create_wake_segment();
  if (!wake) return wake.error();
  wake_ = std::move(*wake);
  sleep_state_ = &std::launder(static_cast<detail::WakeHeader*>(wake_.data()))->state;
  auto stat = detail::create_stat_segment(bell_.slots, session_, options_.endpoint,
                                          options_.handler_histogram);
  if (!stat) return stat.error();
  stat_ = std::move(*stat);
  auto stat_view = detail::view_stat_segment(stat_.data(), stat_.size());
  if (!stat_view) return stat_view.error();
  stat_view_ = *stat_view;
  counters_ = stat_view_.header->counters;
  slots_.resize(bell_.slots);

  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return Error::from_errno(errno, "epoll_create1");
  event_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!event_) return Error::from_errno(errno, "eventfd");
  timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer_) return Error::from_errno(errno, "timerfd_create");
  for (const auto& r :
       {epoll_add(epoll_.get(), event_.get(), kTagEvent << kTagShift, EPOLLIN),
        epoll_add(epoll_.get(), timer_.get(), (kTagEvent << kTagShift) | 1, EPOLLIN)}) {
    if (!r) return r.error();
  }

  // A socket of our choosing that an allow-list opens to others: anyone may reach it,
  // the handshake's credential check decides.
  const bool shared = !options_.socket_path.empty() &&
                      (!options_.allow_uids.empty() || !options_.allow_gids.empty());
  // The owner lock first: while we hold it nobody else serves this name, and a socket left
  // at the path is a dead server's.
  std::string lock_path = *path;
  if (lock_path.ends_with(".sock")) lock_path.resize(lock_path.size() - 5);
  auto owner = detail::OwnerLock::acquire(lock_path + ".lock");
  if (!owner) {
    if (owner.code() != Errc::exists) return owner.error();
    return Error(Errc::exists, "another server is already serving " + *path + " (" +
                                   owner.error().message() +
                                   "): stop it, or use another endpoint name or session");
  }
  name_lock_ = std::move(*owner);
  auto listener = detail::listen_seqpacket(*path, 1024, shared ? 0666 : 0600);
  if (!listener) return listener.error();
  listen_ = std::move(*listener);
  socket_path_ = *path;
  return epoll_add(epoll_.get(), listen_.get(), kTagListen << kTagShift, EPOLLIN);
}

bool Server::Impl::handle_events(int timeout_ms) {
  work_until_events_ = kWorkPerEventCheck;
  std::array<epoll_event, 64> events{};
  const int n =
      ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
  // Awake: producers that publish from now on need not wake us (the turn after this looks
  // at the doorbell); the sooner they know, the fewer wake-ups they send.
  end_sleep();
  if (n < 0 && errno != EINTR) {
    // Nothing to wait on any more (EBADF, EINVAL: the descriptor was closed under us): a
    // loop that went on would spin. run() and run_once() return it.
    fatal_ = Error::from_errno(errno, "waiting for events on " + socket_path_ + " (epoll_wait)");
    return false;
  }
  bool worked = false;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t data = events[static_cast<std::size_t>(i)].data.u64;
    const std::uint64_t tag = data >> kTagShift;
    const std::uint64_t id = data & kTagMask;
    if (tag == kTagEvent) {
      // stop(), or the timer (prepare_wait()): the next turn looks at what is due.
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t r =
          ::read(id == 0 ? event_.get() : timer_.get(), &count, sizeof count);
      if (id != 0) timer_at_ns_ = 0;
    } else if (tag == kTagListen) {
      accept_all();
      worked = true;
    } else if (tag == kTagPending) {
      handle_hello(id);
      worked = true;
    } else {
      on_socket_event(id);
      worked = true;
    }
  }
  const std::int64_t now = detail::monotonic_ns();
  if (!pending_.empty()) expire_handshakes();
  if (!accepting_) resume_accepting_if_due(now);
  worked |= sweep(now);
  return worked;
}

void Server::Impl::accept_all() {
  while (accepting_) {
    if (pending_.size() >= kMaxPendingHandshakes) {
      pause_accepting(0);  // until a handshake finishes; clients wait in the backlog
      return;
    }
    auto socket = detail::accept_connection(listen_.get());
    if (socket) {
      admit(std::move(*socket));
      continue;
    }
    if (socket.code() == Errc::would_block) return;
    // Out of descriptors (EMFILE, ENFILE) or another failure: the listener stays readable,
    // so looking again at once would spin. Nobody to tell: we have no socket.
    pause_accepting(detail::monotonic_ns() + kAcceptRetryNs);
    return;
  }
}

void Server::Impl::admit(UniqueFd socket) {
  using detail::WelcomeStatus;
  // Credentials first, before the peer can make us spend anything on it. Never a name
  // lookup here (NSS may go to the network): the client names itself (client.cpp).
  auto read = detail::peer_credentials(socket.get());
  if (!read) {
    reject(std::move(socket), static_cast<int>(WelcomeStatus::failed),
           "the server at " + socket_path_ +
               " could not read the peer's credentials: " + read.error().message());
    return;
  }
  detail::PeerCredentials& peer = *read;
  if (!allowed(peer)) {
    reject(
        std::move(socket), static_cast<int>(WelcomeStatus::refused),
        "the server at " + socket_path_ + " refused uid " + std::to_string(peer.uid) +
            ": it accepts " +
            (options_.allow_own_user ? "its own user (uid " + std::to_string(::geteuid()) + ") and "
                                     : std::string()) +
            "the users and groups in its allow-list (allow_users, allow_groups)");
    return;
  }
  std::uint32_t& of_user = pending_by_uid_[peer.uid];
  if (peer.uid != ::geteuid() && of_user >= kMaxPendingPerUser) {
    reject(std::move(socket), static_cast<int>(WelcomeStatus::full),
           "the server at " + socket_path_ + " is busy: uid " + std::to_string(peer.uid) +
               " already has " + std::to_string(of_user) +
               " handshakes in progress, the most one user may have; try again");
    return;
  }
  ++of_user;
  const std::uint64_t id = next_pending_++;
  if (auto watched =
          epoll_add(epoll_.get(), socket.get(), (kTagPending << kTagShift) | id, EPOLLIN);
      !watched) {
    reject(std::move(socket), static_cast<int>(WelcomeStatus::failed),
           "the server at " + socket_path_ +
               " could not take the connection: " + watched.error().message());
    return;
  }
  PendingHandshake p;
  p.socket = std::move(socket);
  p.peer = std::move(peer);
  p.deadline_ns =
      detail::monotonic_ns() + std::chrono::nanoseconds(options_.handshake_timeout).count();
  pending_.emplace(id, std::move(p));
}

void Server::Impl::erase_pending(std::unordered_map<std::uint64_t, PendingHandshake>::iterator it) {
  auto of_user = pending_by_uid_.find(it->second.peer.uid);
  if (of_user != pending_by_uid_.end() && --of_user->second == 0) pending_by_uid_.erase(of_user);
  pending_.erase(it);
}

void Server::Impl::pause_accepting(std::int64_t retry_at_ns) {
  if (accepting_) {
    epoll_event ev{};  // no events: the listener stays registered but quiet
    ev.data.u64 = kTagListen << kTagShift;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listen_.get(), &ev);
    accepting_ = false;
  }
  accept_retry_at_ns_ = retry_at_ns;
}

void Server::Impl::resume_accepting_if_due(std::int64_t now) {
  if (pending_.size() >= kMaxPendingHandshakes) return;
  if (accept_retry_at_ns_ != 0 && now < accept_retry_at_ns_) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTagListen << kTagShift;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listen_.get(), &ev);
  accepting_ = true;
  accept_retry_at_ns_ = 0;
}

void Server::Impl::expire_handshakes() {
  const std::int64_t now = detail::monotonic_ns();
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (it->second.deadline_ns <= now) {
      count_rejected(-1);
      erase_pending(it);  // closing the socket tells the client
    }
    it = next;
  }
}

bool Server::Impl::allowed(const detail::PeerCredentials& peer) const {
  if (options_.allow_own_user && peer.uid == ::geteuid()) return true;
  if (std::find(options_.allow_uids.begin(), options_.allow_uids.end(), peer.uid) !=
      options_.allow_uids.end()) {
    return true;
  }
  return std::ranges::any_of(options_.allow_gids, [&](gid_t g) {
    return peer.gid == g || std::ranges::find(peer.groups, g) != peer.groups.end();
  });
}

void Server::Impl::count_rejected(int status) {
  using detail::EndpointCounter;
  using detail::WelcomeStatus;
  switch (status) {
    case static_cast<int>(WelcomeStatus::bad_version):
      count(EndpointCounter::rejected_version);
      break;
    case static_cast<int>(WelcomeStatus::refused):
      count(EndpointCounter::rejected_credentials);
      break;
    case static_cast<int>(WelcomeStatus::full): count(EndpointCounter::rejected_full); break;
    case static_cast<int>(WelcomeStatus::bad_request):
      count(EndpointCounter::rejected_malformed);
      break;
    case static_cast<int>(WelcomeStatus::failed): count(EndpointCounter::rejected_failed); break;
    default: count(EndpointCounter::rejected_abandoned); break;
  }
}

void Server::Impl::reject(UniqueFd socket, int status, const std::string& message) {
  count_rejected(status);
  detail::Welcome w;
  w.status = static_cast<detail::WelcomeStatus>(status);
  w.message = message;
  const auto bytes = detail::encode_welcome(w);
  (void)detail::send_message(socket.get(), bytes);
  // Closing a Unix socket with unread data resets the peer's end (ECONNRESET), which would
  // lose the Welcome before the client reads it: stop the client from sending (its hello
  // may not be here yet), then drop what it sent, then close.
  ::shutdown(socket.get(), SHUT_RD);
  for (int i = 0; i < 4 && !detail::read_socket(socket.get()).gone; ++i) {
  }
}

void Server::Impl::handle_hello(std::uint64_t pending_id) {
  auto it = pending_.find(pending_id);
  if (it == pending_.end()) return;
  std::array<std::byte, detail::kHelloSize + 1> buf{};
  // A hello carries no descriptors: none a peer sends is ever installed (or closed) here.
  auto got = detail::recv_message(it->second.socket.get(), buf, std::chrono::milliseconds(0),
                                  detail::Descriptors::refuse);
  if (!got && got.code() == Errc::would_block) return;
  UniqueFd socket = std::move(it->second.socket);
  const detail::PeerCredentials peer = std::move(it->second.peer);
  erase_pending(it);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, socket.get(), nullptr);
  using detail::WelcomeStatus;
  if (!got && got.code() == Errc::bad_length) {  // too long, or with descriptors
    reject(
        std::move(socket), static_cast<int>(WelcomeStatus::bad_request),
        "the server at " + socket_path_ + " refused a malformed hello: " + got.error().message());
    return;
  }
  if (!got) {
    count_rejected(-1);  // gone before its hello
    return;
  }
  std::uint16_t version = 0;
  auto hello = detail::decode_hello(std::span<const std::byte>(buf.data(), got->size), &version);
  if (!hello) {
    if (hello.code() == Errc::bad_version) {
      reject(std::move(socket), static_cast<int>(WelcomeStatus::bad_version),
             "the server at " + socket_path_ + " speaks protocol version " +
                 std::to_string(detail::kProtocolVersion) + ", the client speaks version " +
                 std::to_string(version) + ": use a client and server of the same ferry release");
    } else {
      reject(std::move(socket), static_cast<int>(WelcomeStatus::bad_request),
             "the server at " + socket_path_ +
                 " refused a malformed hello: " + hello.error().message());
    }
    return;
  }
  if (by_id_.size() >= options_.max_connections) {
    reject(std::move(socket), static_cast<int>(WelcomeStatus::full),
           "the server at " + socket_path_ + " is full: " + std::to_string(by_id_.size()) +
               " connections, its limit (max_connections " +
               std::to_string(options_.max_connections) + ")" +
               (fd_limit_note_.empty() ? "" : " (" + fd_limit_note_ + ")"));
    return;
  }
  std::uint32_t capacity[2] = {hello->c2s_capacity, hello->s2c_capacity};
  for (std::uint32_t& cap : capacity) {
    if (cap == 0) cap = options_.ring_capacity;
    if (!std::has_single_bit(cap) || cap < 4096 || cap > options_.max_ring_capacity) {
      reject(std::move(socket), static_cast<int>(WelcomeStatus::bad_request),
             "the server at " + socket_path_ + " cannot grant a ring of " + std::to_string(cap) +
                 " bytes: use a power of two from 4096 to " +
                 std::to_string(options_.max_ring_capacity));
      return;
    }
  }

  // Everything checked: build the connection.
  std::uint32_t slot = 0;
  if (!free_slots_.empty()) {
    std::pop_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = slot_limit_;
  }
  auto fail = [&](const Error& e) {
    free_slots_.push_back(slot);
    std::push_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
    reject(std::move(socket), static_cast<int>(WelcomeStatus::failed),
           "the server at " + socket_path_ + " could not set up the connection: " + e.message());
  };
  const ConnectionId id = next_id_++;
  auto segment =
      detail::create_connection_segment(id, slot, capacity[0], capacity[1], options_.crc);
  if (!segment) return fail(segment.error());
  auto view = detail::view_connection_segment(*segment, id, slot);
  if (!view) return fail(view.error());
  auto c = std::make_unique<ServerConn>();
  // Wakes both ways go through the socket, whose other end only the client holds
  // (waiting.hpp). The server never sleeps in a ring wait: it waits in epoll.
  const RingWakeFds wakes{socket.get(), socket.get(), -1, true};
  auto in = RingConsumer::attach(view->c2s, view->c2s_bytes, {}, wakes);
  auto out = RingProducer::attach(view->s2c, view->s2c_bytes, {}, wakes);
  if (!in) return fail(in.error());
  if (!out) return fail(out.error());
  view->header->server.pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  view->header->ident.server_token = stat_view_.header->ident.server_token;

  detail::Welcome w;
  w.connection_id = id;
  w.slot = slot;
  w.segment_size = segment->size();
  w.doorbell_size = doorbell_.size();
  w.message = "welcome";
  const auto bytes = detail::encode_welcome(w);
  const int fds[] = {segment->fd(), doorbell_.fd(), wake_.fd()};
  // Watched before the Welcome goes: once it has, the client may hang up or wake us.
  if (auto watched =
          epoll_add(epoll_.get(), socket.get(), (kTagConn << kTagShift) | id, EPOLLIN | EPOLLRDHUP);
      !watched) {
    return fail(watched.error());
  }
  if (auto r = detail::send_message(socket.get(), bytes, fds); !r) {
    count_rejected(-1);  // gone before our welcome
    free_slots_.push_back(slot);
    std::push_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
    return;
  }
  // The segment's descriptor stays open while the connection lives: observers (ferry stat)
  // find the connection through /proc/<our pid>/fd.

  c->slot = slot;
  c->socket = std::move(socket);
  c->segment = std::move(*segment);
  c->view = *view;
  c->in = std::move(*in);
  c->out = *out;
  c->info.id = id;
  c->info.pid = peer.pid;
  c->info.uid = peer.uid;
  c->info.gid = peer.gid;
  c->info.name = hello->name;
  c->info.compression = hello->compression;
  c->info.c2s_capacity = capacity[0];
  c->info.s2c_capacity = capacity[1];
  c->copy_payloads = options_.payload_copy == PayloadCopy::always ||
                     (options_.payload_copy == PayloadCopy::other_users && peer.uid != ::geteuid());
  slot_limit_ = std::max(slot_limit_, slot + 1);
  by_id_.emplace(id, slot);
  detail::PeerEntry& who = stat_view_.peers[slot];
  who.pid = static_cast<std::uint32_t>(peer.pid);
  who.uid = peer.uid;
  who.gid = peer.gid;
  who.connected_unix_ns = detail::unix_now_ns();
  detail::copy_name(who.name, hello->name);
  who.connection_id.store(id, std::memory_order_release);  // observers read it first
  slots_[slot] = std::move(c);
  count(detail::EndpointCounter::accepted);
  set(detail::EndpointCounter::active, by_id_.size());
  if ((hello->flags & detail::kHelloFlagReconnect) != 0) count(detail::EndpointCounter::reconnects);
  if (on_connect_) on_connect_(slots_[slot]->info);
  // It may have sent before we listened to its doorbell bit; look once.
  ServerConn& conn = *slots_[slot];
  if (!conn.queued) {
    conn.queued = true;
    ready_.push_back(slot);
  }
}

void Server::Impl::on_socket_event(ConnectionId id) {
  ServerConn* c = find(id);
  if (c == nullptr || c->peer_gone) return;
  // After the handshake a client sends only wakes (one byte each, waiting.hpp); anything
  // else, descriptors included, is a protocol error. A hang-up: serve what it committed
  // before, then free it.
  bool woke = false;
  for (unsigned read = 0; read < kReadsPerEvent; read += detail::kWakesPerRead) {
    const detail::SocketRead got = detail::read_socket(c->socket.get());
    woke |= got.wakes > 0;
    if (got.bad) {
      count(detail::EndpointCounter::protocol_errors);
      disconnect(id, DisconnectReason::protocol_error,
                 "it sent something other than a 1-byte wake-up on its socket");
      return;
    }
    if (got.gone) {
      c->peer_gone = true;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->socket.get(), nullptr);
      woke = true;
      break;
    }
    if (!got.full) break;
  }
  if (!woke) return;
  // It published, or freed room in a ring we wait on (a held message may fit now).
  woken_ = true;
  if (!c->queued && !c->blocked) {
    c->queued = true;
    ready_.push_back(c->slot);
  }
}

}  // namespace ferry
