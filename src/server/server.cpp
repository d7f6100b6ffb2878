// SPDX-License-Identifier: Apache-2.0
// ferry::Server: the loop, the router and sending (server.hpp). Accepting and the
// handshake are in accept.cpp.
//
// One turn: collect the doorbell bits producers set (only connections with data), add the
// connections whose handler asked to retry, serve each at most `batch` messages, publish
// every output ring written to, free connections that finished. Control events (accept,
// handshake, hang-ups) are read from epoll every few turns and whenever the server sleeps.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "ferry/session.hpp"
#include "ring/ring_layout.hpp"
#include "server/server_impl.hpp"
#include "stat/closed_totals.hpp"
#include "stat/extras.hpp"
#include "wait/waiting.hpp"

namespace ferry {

namespace {

// A connection whose handler asked to retry is served again when a client wakes the server
// (it freed room in a ring the server waits on) or after this long, not on every turn.
constexpr std::int64_t kBlockedRetryNs = 1'000'000;

std::string type_name(std::uint16_t type) {
  return "message type " + std::to_string(type);
}

}  // namespace

std::string_view to_string(DisconnectReason reason) noexcept {
  switch (reason) {
    case DisconnectReason::closed: return "closed";
    case DisconnectReason::protocol_error: return "protocol_error";
    case DisconnectReason::server_closed: return "server_closed";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------- Request

const ConnectionInfo& Request::peer() const {
  return server_.find(from_)->info;
}

Result<void> Request::reply(std::span<const std::byte> payload) {
  if (!message_.is_request()) {
    return Error(Errc::invalid_argument, "reply() to a message that is not a request (" +
                                             type_name(message_.type) + ", no correlation id)");
  }
  auto sent = server_.send(from_, message_.type, payload, message_.correlation, wire::kFlagReply);
  replied_ = replied_ || sent.ok();
  return sent;
}

Result<void> Request::reply_error(std::string_view text) {
  if (!message_.is_request()) {
    return Error(Errc::invalid_argument, "reply_error() to a message that is not a request (" +
                                             type_name(message_.type) + ")");
  }
  auto sent = server_.send(
      from_, message_.type,
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()),  // NOLINT
                                 text.size()),
      message_.correlation, wire::kFlagReply | wire::kFlagError);
  replied_ = replied_ || sent.ok();
  return sent;
}

// ---------------------------------------------------------------------------- Server

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;
Server::~Server() = default;

Server::Impl::~Impl() {
  // Closing the sockets is what the clients notice; the goodbye says it was no crash.
  for (const auto& c : slots_) {
    if (c)
      detail::write_goodbye(*c->view.header, detail::GoodbyeReason::server_closed,
                            "the server stopped");
  }
  slots_.clear();
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
  name_lock_.remove();  // last: until now the name was ours
}

Result<Server> Server::create(ServerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (auto r = impl->open(); !r) {
    impl->socket_path_.clear();  // never unlink a socket we did not bind
    return r.error();
  }
  return Server(std::move(impl));
}

void Server::on(std::uint16_t type, Handler handler) {
  impl_->handlers_[type] = std::move(handler);
}
void Server::on_default(Handler handler) {
  impl_->default_handler_ = std::move(handler);
}
void Server::on_connect(ConnectHandler handler) {
  impl_->on_connect_ = std::move(handler);
}
void Server::on_disconnect(DisconnectHandler handler) {
  impl_->on_disconnect_ = std::move(handler);
}

Result<void> Server::run() {
  while (!impl_->stop_.load(std::memory_order_relaxed)) {
    if (auto r = impl_->run_once(std::chrono::milliseconds(100)); !r) return r;
  }
  impl_->stop_.store(false, std::memory_order_relaxed);  // a later run() serves again
  return {};
}

Result<void> Server::run_once(std::chrono::nanoseconds timeout) {
  return impl_->run_once(timeout);
}
bool Server::prepare_wait() {
  std::int64_t due_ns = 0;
  if (!impl_->prepare_sleep(due_ns)) return false;
  // The application's loop sleeps on fd() with a timeout we do not know: the timer, which
  // is in fd(), wakes it for what must happen by then.
  if (due_ns != INT64_MAX) impl_->arm_timer(due_ns);
  return true;
}
int Server::fd() const noexcept {
  return impl_->epoll_.get();
}

void Server::stop() noexcept {
  impl_->stop_.store(true, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(impl_->event_.get(), &one, sizeof one);
}

Result<void> Server::send(ConnectionId to, std::uint16_t type, std::span<const std::byte> payload,
                          std::uint32_t correlation, std::uint8_t flags) {
  return impl_->send(to, type, payload, correlation, flags);
}

Result<void> Server::send(ConnectionId to, std::uint16_t type, const FanoutPayload& payload,
                          std::uint32_t correlation, std::uint8_t flags) {
  return impl_->send(to, type, payload.bytes(), correlation, flags, &payload);
}

void FanoutPayload::assign(std::span<const std::byte> payload) {
  if (bytes_.size() < payload.size()) bytes_.resize(payload.size());
  if (!payload.empty()) std::memcpy(bytes_.data(), payload.data(), payload.size());
  size_ = payload.size();
  // The CRC of our copy, not of the memory it came from: the two may differ by now.
  crc_ = crc32c(bytes_.data(), size_);
  if (join_.size_b() != size_) join_ = Crc32cJoin(size_);
}

void Server::disconnect(ConnectionId id, std::string_view why) {
  impl_->disconnect(id, DisconnectReason::server_closed, why);
}

const ConnectionInfo* Server::connection(ConnectionId id) const {
  const ServerConn* c = impl_->find(id);
  return c != nullptr && !c->closing ? &c->info : nullptr;
}
std::size_t Server::connection_count() const noexcept {
  return impl_->by_id_.size();
}
ServerStats Server::stats() const noexcept {
  return detail::endpoint_stats(*impl_->stat_view_.header);
}
const std::string& Server::socket_path() const noexcept {
  return impl_->socket_path_;
}
const std::string& Server::session() const noexcept {
  return impl_->session_;
}
std::uint32_t Server::max_connections() const noexcept {
  return impl_->options_.max_connections;
}
const std::string& Server::max_connections_note() const noexcept {
  return impl_->fd_limit_note_;
}

// ---------------------------------------------------------------------------- the loop

ServerConn* Server::Impl::find(ConnectionId id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : slots_[it->second].get();
}

Result<void> Server::Impl::run_once(std::chrono::nanoseconds timeout) {
  if (asleep_) {
    // The application slept on fd() after prepare_wait(): what woke it waits in epoll, and
    // fd() stays readable until it is read.
    end_sleep();
    handle_events(0);
  }
  if (!turn() && timeout.count() > 0) {
    idle_wait(timeout);
    turn();
  }
  if (fatal_) return *fatal_;
  return {};
}

bool Server::Impl::turn() {
  in_turn_ = true;
  bool worked = false;
  if (--work_until_events_ <= 0) worked |= handle_events(0);
  worked |= collect_doorbell();
  if (blocked_due()) {
    for (std::uint32_t slot : blocked_) {
      if (!slots_[slot]) continue;  // closed while blocked
      ServerConn& c = *slots_[slot];
      c.blocked = false;
      if (!c.queued) {
        c.queued = true;
        ready_.push_back(slot);
      }
    }
    blocked_.clear();
  }
  woken_ = false;
  // Serve only what is ready now; connections re-queued while serving wait for the next
  // turn, after everyone else ready now (round robin).
  for (std::size_t n = ready_.size(); n > 0; --n) {
    const std::uint32_t slot = ready_.front();
    ready_.pop_front();
    if (!slots_[slot]) continue;  // closed since it was queued
    ServerConn& c = *slots_[slot];
    c.queued = false;
    if (!c.closing) work_until_events_ -= static_cast<std::int32_t>(serve(c));
    worked = true;
  }
  flush_outputs();
  close_finished();
  if (!blocked_.empty()) {
    // Blocked again, or newly: the next retry no sooner than kBlockedRetryNs from now,
    // unless an earlier one is already set.
    const std::int64_t now = detail::monotonic_ns();
    if (blocked_retry_at_ns_ <= now) blocked_retry_at_ns_ = now + kBlockedRetryNs;
  }
  in_turn_ = false;
  return worked;
}

bool Server::Impl::blocked_due() const noexcept {
  return !blocked_.empty() && (woken_ || detail::monotonic_ns() >= blocked_retry_at_ns_);
}

bool Server::Impl::collect_doorbell() {
  bool found = false;
  const std::uint32_t words = (slot_limit_ + 63) / 64;
  for (std::uint32_t w = 0; w < words; ++w) {
    // A relaxed look first: most words are 0 and then stay unwritten by us.
    if (bell_.words[w].load(std::memory_order_relaxed) == 0) continue;
    // SYNC POINT READ (acq_rel exchange): pairs with the producers' fetch_or in
    // RingProducer::publish(); every tail published before a bit was set is visible.
    std::uint64_t bits = bell_.words[w].exchange(0, std::memory_order_acq_rel);
    while (bits != 0) {
      const auto bit = static_cast<std::uint32_t>(std::countr_zero(bits));
      bits &= bits - 1;
      const std::uint32_t slot = w * 64 + bit;
      if (slot >= slots_.size() || !slots_[slot]) continue;  // closed since, or a stray bit
      ServerConn& c = *slots_[slot];
      found = true;
      if (!c.queued && !c.blocked) {
        c.queued = true;
        ready_.push_back(slot);
      }
    }
  }
  return found;
}

bool Server::Impl::sweep(std::int64_t now) {
  if (now - last_sweep_ns_ < kSweepNs) return false;
  last_sweep_ns_ = now;
  bool found = false;
  for (std::uint32_t slot = 0; slot < slot_limit_; ++slot) {
    ServerConn* c = slots_[slot].get();
    if (c != nullptr && !c->queued && !c->blocked && !c->closing && c->in.has_data()) {
      c->queued = true;
      ready_.push_back(slot);
      found = true;
    }
  }
  return found;
}

bool Server::Impl::doorbell_pending() const noexcept {
  const std::uint32_t words = (slot_limit_ + 63) / 64;
  for (std::uint32_t w = 0; w < words; ++w) {
    if (bell_.words[w].load(std::memory_order_relaxed) != 0) return true;
  }
  return false;
}

std::uint32_t Server::Impl::serve(ServerConn& c) {
  std::uint32_t n = 0;
  for (; n < options_.batch; ++n) {
    auto record = c.in.peek();
    if (!record) {
      if (record.code() == Errc::would_block) break;
      // A frame no correct client writes: the connection is closed, others go on.
      count(detail::EndpointCounter::protocol_errors);
      disconnect(c.info.id, DisconnectReason::protocol_error, record.error().message());
      return n;
    }
    bool retry = false;
    if (options_.handler_histogram && --until_sample_ == 0) {
      until_sample_ = kHandlerSampleEvery;
      const std::int64_t start = detail::monotonic_ns();
      retry = dispatch(c, *record);
      detail::record_latency(stat_view_.header->extras, detail::monotonic_ns() - start);
    } else {
      retry = dispatch(c, *record);
    }
    if (retry) {
      if (c.closing) return n;
      c.blocked = true;
      blocked_.push_back(c.slot);
      break;
    }
    if (!c.closing) {  // handled, once (a retried message counts then)
      count(detail::EndpointCounter::messages_in);
      count(detail::EndpointCounter::bytes_in, record->payload.size());
    }
    c.in.release(Publish::later);
    if (c.closing) break;
  }
  // The client learns that its messages were consumed only after what handling them sent
  // is published (flush_outputs()): a server that dies in between leaves them unconsumed,
  // and the client sends them again rather than lose them.
  if (!c.consumed) {
    c.consumed = true;
    consumed_.push_back(c.slot);
  }
  if (c.closing || c.blocked) return n;
  if (n == options_.batch || c.in.has_data()) {
    // More is waiting: come back next turn, after the others.
    c.queued = true;
    ready_.push_back(c.slot);
  } else if (c.peer_gone) {
    disconnect(c.info.id, DisconnectReason::closed);
  }
  return n;
}

bool Server::Impl::dispatch(ServerConn& c, const RecordView& record) {
  Message m;
  m.type = record.header.type;
  m.flags = static_cast<std::uint8_t>(record.header.flags & ~(wire::kFlagLz4 | wire::kFlagZstd));
  m.correlation = record.header.correlation;
  m.payload = record.payload;
  m.in_shared_memory = true;
  if ((record.header.flags & (wire::kFlagLz4 | wire::kFlagZstd)) != 0) {
    auto codec = compression_from_flags(record.header.flags);
    const std::size_t limit = c.in.max_payload();
    auto size =
        codec ? decompressed_size(record.payload, limit) : Result<std::size_t>(codec.error());
    if (size) {
      if (scratch_.size() < *size) scratch_.resize(*size);
      size = decompress(*codec, record.payload, scratch_, limit);
    }
    if (!size) {
      count(detail::EndpointCounter::protocol_errors);
      disconnect(c.info.id, DisconnectReason::protocol_error,
                 "a compressed message does not decompress: " + size.error().message());
      return false;
    }
    m.payload = std::span<const std::byte>(scratch_.data(), *size);
    m.in_shared_memory = false;
  } else if (c.copy_payloads) {
    // Before any handler or verifier sees it: a peer of another user must not be able to
    // change what was checked (one copy, then only the copy is read).
    private_.resize((record.payload.size() + 7) / 8);
    auto* copy = reinterpret_cast<std::byte*>(private_.data());  // NOLINT: bytes of u64s
    if (!record.payload.empty()) std::memcpy(copy, record.payload.data(), record.payload.size());
    m.payload = std::span<const std::byte>(copy, record.payload.size());
    m.in_shared_memory = false;
  }
  Request request(*this, c.info.id, m);
  auto it = handlers_.find(m.type);
  const Handler* handler = it != handlers_.end() ? &it->second
                           : default_handler_    ? &default_handler_
                                                 : nullptr;
  if (handler != nullptr) {
    const auto failed = [&](std::string_view what) {
      count(detail::EndpointCounter::handler_errors);
      request.retry_ = false;  // handled, badly: the next message's turn
      if (m.is_request() && !request.replied_ && !c.closing) {
        (void)request.reply_error("the handler for " + type_name(m.type) + " at " + socket_path_ +
                                  " failed: " + std::string(what));
      }
    };
    try {
      (*handler)(request);
    } catch (const std::exception& e) {
      failed(e.what());
    } catch (...) {
      failed("it threw something that is not a std::exception");
    }
  } else if (m.is_request()) {
    auto r = request.reply_error("no handler for " + type_name(m.type) + " at " + socket_path_);
    if (r.code() == Errc::would_block) request.retry_later();
  } else {
    count(detail::EndpointCounter::unhandled);
  }
  return request.retry_;
}

Result<void> Server::Impl::send(ConnectionId to, std::uint16_t type,
                                std::span<const std::byte> payload, std::uint32_t correlation,
                                std::uint8_t flags, const FanoutPayload* prepared) {
  ServerConn* c = find(to);
  if (c == nullptr) return Error(Errc::not_found, "no connection " + std::to_string(to));
  if (c->closing)
    return Error(Errc::disconnected, "connection " + std::to_string(to) + " is closing");
  if ((flags & ~(wire::kFlagReply | wire::kFlagError | wire::kFlagResent)) != 0) {
    return Error(Errc::invalid_argument, "send() takes only the reply, error and resent flags");
  }
  MessageMeta meta{type, flags, correlation};
  const Compression codec = c->info.compression;
  std::size_t room_needed = payload.size();
  const bool compress_it = codec != Compression::none &&
                           payload.size() >= options_.compress_threshold &&
                           compress_bound(codec, payload.size()) <= c->out.max_payload();
  if (compress_it) room_needed = compress_bound(codec, payload.size());
  auto room = c->out.reserve(room_needed);
  if (!room && room.code() == Errc::would_block) {
    // Full: ask to be woken (our eventfd) when the client frees room, unless it just did.
    auto armed = c->out.arm_space_wait(room_needed);
    if (armed && *armed) room = c->out.reserve(room_needed);
  }
  if (!room) {
    if (room.code() == Errc::corrupt) {
      count(detail::EndpointCounter::protocol_errors);
      disconnect(to, DisconnectReason::protocol_error, room.error().message());
      return Error(Errc::disconnected,
                   "connection " + std::to_string(to) + ": " + room.error().message());
    }
    return room.error();
  }
  std::size_t n = payload.size();
  bool raw = true;
  if (compress_it) {
    auto packed = compress(codec, 0, payload, *room);
    if (packed && *packed > 0) {
      n = *packed;
      meta.flags = static_cast<std::uint8_t>(meta.flags | compression_flag(codec));
      raw = false;
    }
  }
  if (raw && n > 0) std::memcpy(room->data(), payload.data(), n);
  if (raw && prepared != nullptr) {
    c->out.commit(n, meta, prepared->crc(), prepared->join(), Publish::later);
  } else {
    c->out.commit(n, meta, Publish::later);
  }
  count(detail::EndpointCounter::messages_out);
  count(detail::EndpointCounter::bytes_out, n);
  if (!in_turn_) {
    c->out.publish();
  } else if (!c->dirty) {
    c->dirty = true;
    dirty_.push_back(c->slot);
  }
  return {};
}

void Server::Impl::flush_outputs() {
  for (std::uint32_t slot : dirty_) {
    ServerConn& c = *slots_[slot];
    c.dirty = false;
    c.out.publish();
  }
  dirty_.clear();
  for (std::uint32_t slot : consumed_) {
    ServerConn& c = *slots_[slot];
    c.consumed = false;
    c.in.publish();
  }
  consumed_.clear();
}

void Server::Impl::disconnect(ConnectionId id, DisconnectReason reason, std::string_view why) {
  ServerConn* c = find(id);
  if (c == nullptr || c->closing) return;
  c->closing = true;
  c->reason = reason;
  if (reason == DisconnectReason::protocol_error) {
    detail::write_goodbye(
        *c->view.header, detail::GoodbyeReason::protocol_error,
        "it broke the protocol: " + std::string(why.empty() ? "no reason given" : why));
  } else if (reason == DisconnectReason::server_closed) {
    detail::write_goodbye(*c->view.header, detail::GoodbyeReason::server_closed,
                          why.empty() ? std::string_view("the server closed it") : why);
  }
  closing_.push_back(c->slot);
  if (!in_turn_) close_finished();
}

LatencyHistogram Server::handler_latency() const noexcept {
  return detail::read_latency(impl_->stat_view_.header->extras);
}

Result<std::atomic<std::uint64_t>*> Server::publish_metric(std::string_view series) {
  auto value = detail::publish_value(impl_->stat_view_.header->extras, series);
  if (!value) return value.error();
  return &(*value)->std_atomic();
}

// NOLINTNEXTLINE(readability-make-member-function-const): writes the shared counters
void Server::Impl::retire_counters(const ServerConn& c) noexcept {
  // Every ring counter is in the segment the client writes: read once here (ring_stats()),
  // bounded by the connection's lifetime and added without wrapping by retire_connection(),
  // which frees the peer entry in the same seqlock write (stat/closed_totals.hpp).
  detail::retire_connection(stat_view_, c.slot, ring_stats(c.view.c2s), ring_stats(c.view.s2c),
                            detail::unix_now_ns());
}

void Server::Impl::close_finished() {
  if (closing_.empty()) return;
  flush_outputs();
  for (std::uint32_t slot : closing_) {
    std::unique_ptr<ServerConn> c = std::move(slots_[slot]);
    by_id_.erase(c->info.id);
    set(detail::EndpointCounter::active, by_id_.size());
    if (c->reason == DisconnectReason::closed) count(detail::EndpointCounter::lost);
    retire_counters(*c);  // and frees its peer entry
    // Closing the socket is what the client notices; the segment goes with the mapping.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->socket.get(), nullptr);
    if (on_disconnect_) on_disconnect_(c->info, c->reason);
    c.reset();
    free_slots_.push_back(slot);
    std::push_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
  }
  closing_.clear();
}

bool Server::Impl::prepare_sleep(std::int64_t& due_ns) {
  if (!ready_.empty() || blocked_due() || stop_.load(std::memory_order_relaxed)) return false;
  detail::announce_server_sleep(*sleep_state_, sleep_epoch_);
  asleep_ = true;
  // Either these looks see a producer's record, or that producer sees the announcement and
  // wakes us through its socket (waiting.hpp). The bitmap is only a hint, so every ring is
  // looked at too, at most every kSweepNs; until then the sweep is due (below).
  const std::int64_t now = detail::monotonic_ns();
  if (doorbell_pending() || sweep(now)) {
    end_sleep();
    return false;
  }
  due_ns = INT64_MAX;
  if (last_sweep_ns_ != now && !by_id_.empty()) due_ns = last_sweep_ns_ + kSweepNs;
  if (!blocked_.empty()) due_ns = std::min(due_ns, blocked_retry_at_ns_);
  for (const auto& [id, pending] : pending_) due_ns = std::min(due_ns, pending.deadline_ns);
  if (!accepting_ && accept_retry_at_ns_ != 0) due_ns = std::min(due_ns, accept_retry_at_ns_);
  return true;
}

void Server::Impl::end_sleep() noexcept {
  if (!asleep_) return;
  asleep_ = false;
  detail::end_server_sleep(*sleep_state_, sleep_epoch_);
}

void Server::Impl::arm_timer(std::int64_t at_ns) noexcept {
  // Armed for that time or earlier, and not yet fired: it will wake us (early is harmless).
  if (timer_at_ns_ != 0 && timer_at_ns_ <= at_ns) return;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(at_ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(at_ns % 1'000'000'000);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  if (::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) == 0) timer_at_ns_ = at_ns;
}

void Server::Impl::idle_wait(std::chrono::nanoseconds timeout) {
  const detail::Deadline deadline(timeout);
  const WaitOptions& w = options_.wait;
  if (w.strategy != WaitStrategy::block) {
    const std::int64_t spin_end = w.strategy == WaitStrategy::spin
                                      ? deadline.at()
                                      : detail::monotonic_ns() + w.spin_for.count();
    const std::uint32_t yield_every = w.yield_every == 0 ? 1024 : w.yield_every;
    for (std::uint32_t i = 1;; ++i) {
      if (doorbell_pending() || blocked_due()) return;
      detail::cpu_relax();
      if (i % yield_every == 0) sched_yield();
      if ((i & 63u) == 0) {
        if (--work_until_events_ <= 0 && handle_events(0)) return;
        if (detail::monotonic_ns() >= spin_end) break;
      }
    }
    if (w.strategy == WaitStrategy::spin) return;
  }
  std::int64_t due_ns = 0;
  if (!prepare_sleep(due_ns)) return;
  const std::int64_t until = std::min(deadline.at(), due_ns);
  int ms = -1;
  if (until != INT64_MAX) {
    const std::int64_t left = until - detail::monotonic_ns();
    ms = left <= 0
             ? 0
             : static_cast<int>(std::min<std::int64_t>((left + 999'999) / 1'000'000, INT32_MAX));
  }
  handle_events(ms);
  end_sleep();
}

}  // namespace ferry
