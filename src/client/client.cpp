// SPDX-License-Identifier: Apache-2.0
// ferry::Client (client.hpp): sending, request/response and receiving; the connection
// itself (handshake, loss, reconnecting) is in link.cpp.
#include "ferry/client.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <string>

#include "client/client_impl.hpp"
#include "ferry/bus.hpp"
#include "ferry/session.hpp"

namespace ferry {

namespace {

// send() reads the clock every kSendsPerClockLook sends, and poll() finding nothing each
// time; either looks at the socket when kLivenessCheckNs have passed since the last look.
constexpr std::uint32_t kSendsPerClockLook = 16;
constexpr std::int64_t kLivenessCheckNs = 1'000'000;

std::span<const std::byte> text_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};  // NOLINT
}

}  // namespace

Client::Client() = default;
Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::connect(ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  auto session = resolve_session(impl->options.session);
  if (!session) return session.error();
  impl->session = std::move(*session);
  if (auto r = impl->open_link(); !r) return r.error();
  return Client(std::move(impl));
}

Result<std::span<std::byte>> Client::Impl::reserve(std::size_t n,
                                                   std::chrono::nanoseconds timeout) {
  if (open && resend.empty() && (++sends_since_check % kSendsPerClockLook) != 0) {
    auto room = out.reserve(n);
    if (room) return room;
    if (room.code() != Errc::would_block && room.code() != Errc::disconnected) {
      return ring_error(room.error());
    }
  }
  const detail::Deadline deadline(timeout);
  for (;;) {
    if (auto r = ensure_link(deadline); !r) return r.error();
    if (!resend.empty()) {
      if (auto r = flush_resend(deadline); !r) {
        if (!open) continue;
        return r.error();
      }
    }
    // A send into a dead server's ring succeeds: look at the socket now and then.
    const std::int64_t now = detail::monotonic_ns();
    if (now - last_liveness_check_ns >= kLivenessCheckNs) {
      last_liveness_check_ns = now;
      if (peer_gone()) {
        lose(gone().message());
        continue;
      }
    }
    std::chrono::nanoseconds left = kForever;
    if (!deadline.never())
      left = std::chrono::nanoseconds(deadline.remaining(detail::monotonic_ns()));
    auto room = out.reserve(n, left);
    if (room) return room;
    if (room.code() == Errc::disconnected) {
      lose(gone().message());
      continue;
    }
    return ring_error(room.error());
  }
}

Result<void> Client::Impl::send(std::uint16_t type, std::span<const std::byte> payload,
                                std::uint32_t correlation, std::uint8_t flags, Publish publish) {
  MessageMeta meta{type, flags, correlation};
  const CompressionOptions& z = options.compression;
  const bool compress_it = z.codec != Compression::none && payload.size() >= z.threshold &&
                           compress_bound(z.codec, payload.size()) <= out.max_payload();
  const std::size_t room_needed =
      compress_it ? compress_bound(z.codec, payload.size()) : payload.size();
  auto room = reserve(room_needed, options.send_timeout);
  if (!room) return room.error();
  std::size_t n = payload.size();
  bool raw = true;
  if (compress_it) {
    auto packed = compress(z.codec, z.level, payload, *room);
    if (packed && *packed > 0) {
      n = *packed;
      meta.flags = static_cast<std::uint8_t>(meta.flags | compression_flag(z.codec));
      raw = false;
    }
  }
  if (raw && n > 0) std::memcpy(room->data(), payload.data(), n);
  out.commit(n, meta, publish);
  return {};
}

void Client::Impl::spin_for_message() const {
  const WaitOptions& w = options.wait;
  if (w.strategy != WaitStrategy::hybrid || in.has_data()) return;
  constexpr std::int64_t kPureSpinNs = 2'000;
  const std::int64_t start = detail::monotonic_ns();
  std::int64_t spun = 0;
  for (std::uint32_t i = 1;; ++i) {
    if (in.has_data()) return;
    detail::cpu_relax();
    // After a short pure spin, give the CPU away between polls: on few cores the server,
    // or the clients it serves first, may need it more than we do.
    if (spun >= kPureSpinNs) sched_yield();
    if (spun >= kPureSpinNs || (i & 63u) == 0) {
      spun = detail::monotonic_ns() - start;
      if (spun >= w.spin_for.count()) return;
    }
  }
}

Result<Message> Client::Impl::unpack(const RecordView& record) {
  Message m;
  m.type = record.header.type;
  m.flags = static_cast<std::uint8_t>(record.header.flags & ~(wire::kFlagLz4 | wire::kFlagZstd));
  m.correlation = record.header.correlation;
  m.payload = record.payload;
  m.in_shared_memory = true;
  if ((record.header.flags & (wire::kFlagLz4 | wire::kFlagZstd)) == 0) return m;
  auto codec = compression_from_flags(record.header.flags);
  if (!codec) return codec.error();
  const std::size_t limit = in.max_payload();
  auto size = decompressed_size(record.payload, limit);
  if (!size) return size.error();
  if (scratch.size() < *size) scratch.resize(*size);
  size = decompress(*codec, record.payload, scratch, limit);
  if (!size) return size.error();
  m.payload = std::span<const std::byte>(scratch.data(), *size);
  m.in_shared_memory = false;
  return m;
}

namespace {
Error reserved_type(std::uint16_t type) {
  return Error(Errc::invalid_argument, "message type " + std::to_string(type) +
                                           " is reserved for ferry; use 0 to " +
                                           std::to_string(kReservedTypes - 1));
}
}  // namespace

Result<void> Client::send(std::uint16_t type, std::span<const std::byte> payload, Publish publish) {
  if (type >= kReservedTypes) return reserved_type(type);
  return impl_->send(type, payload, 0, 0, publish);
}

Result<std::span<std::byte>> Client::reserve(std::size_t n) {
  return impl_->reserve(n, impl_->options.send_timeout);
}

void Client::commit(std::size_t n, std::uint16_t type, Publish publish) {
  impl_->out.commit(n, MessageMeta{type, 0, 0}, publish);
}

void Client::flush() noexcept {
  if (impl_) impl_->flush();
}

Result<Reply> Client::request(std::uint16_t type, std::span<const std::byte> payload,
                              std::chrono::nanoseconds timeout) {
  return impl_->request(type, payload, timeout);
}

Result<std::uint32_t> Client::send_request(std::uint16_t type, std::span<const std::byte> payload) {
  if (type >= kReservedTypes) return reserved_type(type);
  const std::uint32_t corr = impl_->correlation();
  if (auto r = impl_->send(type, payload, corr, 0); !r) return r.error();
  impl_->requests_out.emplace(corr, type);
  return corr;
}

Result<Reply> Client::Impl::request(std::uint16_t type, std::span<const std::byte> payload,
                                    std::chrono::nanoseconds timeout) {
  const std::uint32_t corr = correlation();
  const detail::Deadline deadline(timeout);
  if (auto r = ensure_link(deadline); !r) return r.error();
  if (auto r = send(type, payload, corr, 0); !r) return r.error();
  for (;;) {
    spin_for_message();
    std::chrono::nanoseconds left = kForever;
    if (!deadline.never())
      left = std::chrono::nanoseconds(deadline.remaining(detail::monotonic_ns()));
    auto record = in.peek(left);
    if (!record) {
      if (record.code() == Errc::timed_out || record.code() == Errc::would_block) {
        return Error(
            Errc::timed_out,
            "no reply to message type " + std::to_string(type) + " from " + socket_path +
                " within " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                " ms");
      }
      if (record.code() == Errc::disconnected) {
        const std::string goodbye = detail::read_goodbye(*view_header());
        lose(gone().message());
        return Error(Errc::disconnected, "the server at " + socket_path +
                                             " went away before replying to message type " +
                                             std::to_string(type) +
                                             " (it may or may not have handled the request)" +
                                             (goodbye.empty() ? std::string() : ": " + goodbye));
      }
      return ring_error(record.error());
    }
    auto m = unpack(*record);
    if (!m) {
      in.release();
      return ring_error(m.error());
    }
    if (m->is_reply() && m->correlation != corr && !requests_out.contains(m->correlation)) {
      in.release();  // the late reply to a request that timed out: nobody waits for it
      continue;
    }
    if (m->is_reply() && m->correlation == corr) {
      Reply reply;
      reply.type = m->type;
      reply.flags = m->flags;
      reply.payload.assign(m->payload.begin(), m->payload.end());
      in.release();
      if ((reply.flags & wire::kFlagError) != 0) {
        return Error(Errc::remote, std::string(reply.text()));
      }
      return reply;
    }
    if (m->is_request()) requests_in.insert(m->correlation);
    stored.push_back(
        detail::StoredMessage{m->type, m->flags, m->correlation,
                              std::vector<std::byte>(m->payload.begin(), m->payload.end())});
    in.release();
  }
}

namespace {
// A request received over a connection that has since been lost cannot be answered: its
// correlation id means nothing to the next server.
Error stale_request() {
  return Error(Errc::disconnected,
               "the request came over a connection that has since been lost; its requester "
               "was told that it failed");
}
}  // namespace

Result<void> Client::reply(const Message& request, std::span<const std::byte> payload) {
  if (!request.is_request()) {
    return Error(Errc::invalid_argument, "reply() to a message that is not a request");
  }
  if (impl_->requests_in.erase(request.correlation) == 0) return stale_request();
  return impl_->send(request.type, payload, request.correlation, wire::kFlagReply);
}

Result<void> Client::reply_error(const Message& request, std::string_view text) {
  if (!request.is_request()) {
    return Error(Errc::invalid_argument, "reply_error() to a message that is not a request");
  }
  if (impl_->requests_in.erase(request.correlation) == 0) return stale_request();
  return impl_->send(request.type, text_bytes(text), request.correlation,
                     wire::kFlagReply | wire::kFlagError);
}

Result<std::size_t> Client::poll(const Handler& handler, std::size_t max) {
  Impl& c = *impl_;
  if (c.closed) return Error(Errc::disconnected, "the client is closed");
  c.flush();
  std::size_t n = 0;
  while (n < max && !c.stored.empty()) {
    detail::StoredMessage s = std::move(c.stored.front());
    c.stored.pop_front();
    if ((s.flags & wire::kFlagReply) != 0) c.requests_out.erase(s.correlation);
    handler(Message{s.type, s.flags, s.correlation, s.payload});
    ++n;
  }
  if (!c.open) {
    // Down: one reconnection attempt when one is due, never a wait.
    if (auto r = c.ensure_link(detail::Deadline(std::chrono::nanoseconds(0))); !r) {
      if (n > 0 || c.options.reconnect) return n;
      return r.error();
    }
  }
  while (n < max) {
    auto record = c.in.peek();
    if (!record) {
      if (record.code() != Errc::would_block) return c.ring_error(record.error());
      if (n == 0) {
        // Nothing: a cheap look at whether the server is still there, now and then.
        const std::int64_t now = detail::monotonic_ns();
        if (now - c.last_liveness_check_ns >= kLivenessCheckNs) {
          c.last_liveness_check_ns = now;
          if (c.peer_gone()) c.lose(c.gone().message());
        }
      }
      break;
    }
    auto m = c.unpack(*record);
    if (!m) {
      c.in.release();
      return c.ring_error(m.error());
    }
    if (m->is_request()) c.requests_in.insert(m->correlation);
    if (m->is_reply()) c.requests_out.erase(m->correlation);
    handler(*m);
    c.in.release(Publish::later);
    ++n;
  }
  if (c.open) c.in.publish();
  return n;
}

Result<std::size_t> Client::wait(const Handler& handler, std::chrono::nanoseconds timeout) {
  Impl& c = *impl_;
  if (c.closed) return Error(Errc::disconnected, "the client is closed");
  c.flush();
  const detail::Deadline deadline(timeout);
  while (c.stored.empty()) {
    if (auto r = c.ensure_link(deadline); !r) {
      if (c.options.reconnect && !c.closed) return 0;  // still down when the time was up
      return r.error();
    }
    c.spin_for_message();
    std::chrono::nanoseconds left = kForever;
    if (!deadline.never())
      left = std::chrono::nanoseconds(deadline.remaining(detail::monotonic_ns()));
    auto record = c.in.peek(left);
    if (record) break;
    if (record.code() == Errc::timed_out || record.code() == Errc::would_block) return 0;
    if (record.code() != Errc::disconnected) return c.ring_error(record.error());
    c.lose(c.gone().message());  // keeps what the server published; then reconnect
    if (!c.options.reconnect && c.stored.empty()) return c.gone();
  }
  return poll(handler);
}

std::vector<std::byte> Client::Impl::bus_payload(std::uint16_t control, std::uint16_t type) const {
  std::vector<std::byte> p{std::byte(type & 0xff), std::byte(type >> 8)};
  if (control == bus::kSubscribe && !options.echo) p.push_back(std::byte{bus::kSubscribeNoEcho});
  return p;
}

namespace {
void remember(std::vector<std::uint16_t>& list, std::uint16_t type, bool on) {
  auto it = std::find(list.begin(), list.end(), type);
  if (on && it == list.end()) list.push_back(type);
  if (!on && it != list.end()) list.erase(it);
}
}  // namespace

Result<void> Client::subscribe(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kSubscribe, impl_->bus_payload(bus::kSubscribe, type), timeout);
  if (!r) return r.error();
  remember(impl_->subscribed, type, true);
  return {};
}

Result<void> Client::unsubscribe(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kUnsubscribe, impl_->bus_payload(bus::kUnsubscribe, type), timeout);
  if (!r) return r.error();
  remember(impl_->subscribed, type, false);
  return {};
}

Result<void> Client::serve(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kServe, impl_->bus_payload(bus::kServe, type), timeout);
  if (!r) return r.error();
  remember(impl_->served, type, true);
  return {};
}

Result<void> Client::unserve(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kUnserve, impl_->bus_payload(bus::kUnserve, type), timeout);
  if (!r) return r.error();
  remember(impl_->served, type, false);
  return {};
}

int Client::fd() const noexcept {
  return impl_ && impl_->open ? impl_->socket.get() : -1;
}

std::uint32_t Client::links() const noexcept {
  return impl_ && impl_->ever_connected ? impl_->reconnects + 1 : 0;
}

bool Client::prepare_wait() {
  impl_->flush();
  if (!impl_->open || !impl_->stored.empty()) return false;
  // Read the wakes that made fd() readable; anything else (a hang-up) is for poll() to see.
  if (!detail::drain_wakes(impl_->socket.get())) return false;
  return impl_->in.arm_data_wait();
}

std::vector<UnsentMessage> Client::take_unsent() {
  return std::exchange(impl_->handed_back, {});
}

std::uint64_t Client::acknowledged() const noexcept {
  if (!impl_) return 0;
  return impl_->acked_before + (impl_->open ? impl_->out.consumed_records() : 0);
}

bool Client::connected() const noexcept {
  return impl_ && impl_->open && !impl_->peer_gone();
}

ConnectionId Client::id() const noexcept {
  return impl_ ? impl_->id : 0;
}
const std::string& Client::socket_path() const noexcept {
  return impl_->socket_path;
}
std::uint32_t Client::max_payload() const noexcept {
  return impl_->out ? impl_->out.max_payload() : 0;
}

void Client::close() noexcept {
  if (!impl_) return;
  impl_->flush();
  impl_->close_link();
  impl_->closed = true;
}

}  // namespace ferry
