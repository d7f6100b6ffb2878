// SPDX-License-Identifier: Apache-2.0
// ferry::Client's connection (client_impl.hpp): the handshake, losing the server, and
// reconnecting with backoff while keeping what was sent (docs/reliability.md).
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <new>
#include <string>

#include "client/client_impl.hpp"
#include "control/handshake.hpp"
#include "ferry/bus.hpp"
#include "ferry/session.hpp"
#include "ring/ring_access.hpp"

namespace ferry {

namespace {

void sleep_until_ns(std::int64_t at) {
  const timespec ts{static_cast<time_t>(at / 1'000'000'000), static_cast<long>(at % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

std::string program_name() {
  std::ifstream comm("/proc/self/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? "ferry-client" : name;
}

std::string user_name(uid_t uid) {
  std::array<char, 1024> buf{};
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

}  // namespace

Result<void> Client::Impl::open_link() {
  Impl& c = *this;
  if (!c.options.socket_path.empty()) {
    if (auto ok = check_socket_dir(c.options.socket_path, true); !ok) return ok.error();
    c.socket_path = c.options.socket_path;
  } else {
    auto dir = session_dir(c.session, false);
    if (!dir) {
      if (dir.code() != Errc::not_found) return dir.error();
      return Error(Errc::not_found,
                   "no ferry endpoint '" + c.options.endpoint + "': " + dir.error().message());
    }
    auto path = endpoint_socket_path(*dir, c.options.endpoint);
    if (!path) return path.error();
    c.socket_path = *path;
  }
  auto connected = detail::connect_seqpacket(c.socket_path, c.options.connect_timeout);
  if (!connected) return connected.error();
  c.socket = std::move(*connected);

  detail::Hello hello;
  hello.c2s_capacity = c.options.ring_capacity;
  hello.s2c_capacity = c.options.ring_capacity;
  hello.compression = c.options.compression.codec;
  if (c.ever_connected) hello.flags |= detail::kHelloFlagReconnect;
  hello.name = c.options.name.empty() ? program_name() : c.options.name;
  if (hello.name.size() > detail::kMaxClientName) hello.name.resize(detail::kMaxClientName);
  for (char& ch : hello.name) {
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  }
  const auto hello_bytes = detail::encode_hello(hello);
  // A server that refuses us at accept (credentials, busy) answers and closes at once, maybe
  // before our hello: then its Welcome, already here, says why.
  if (auto r = detail::send_message(c.socket.get(), hello_bytes);
      !r && r.code() != Errc::disconnected) {
    return Error(r.code(), "handshake with " + c.socket_path + ": " + r.error().message());
  }
  std::array<std::byte, detail::kWelcomeSize + 1> buf{};
  auto got = detail::recv_message(c.socket.get(), buf, c.options.connect_timeout);
  if (!got) {
    if (got.code() == Errc::timed_out || got.code() == Errc::would_block) {
      return Error(Errc::timed_out, "the server at " + c.socket_path +
                                        " did not answer the handshake within " +
                                        std::to_string(c.options.connect_timeout.count()) + " ms");
    }
    if (got.code() == Errc::disconnected) {
      return Error(Errc::disconnected, "the server at " + c.socket_path +
                                           " closed the connection during the handshake");
    }
    return Error(got.code(), "handshake with " + c.socket_path + ": " + got.error().message());
  }
  auto welcome = detail::decode_welcome(std::span<const std::byte>(buf.data(), got->size));
  if (!welcome) {
    return Error(welcome.code(), "the server at " + c.socket_path +
                                     " sent a bad handshake reply: " + welcome.error().message());
  }
  using detail::WelcomeStatus;
  switch (welcome->status) {
    case WelcomeStatus::ok: break;
    case WelcomeStatus::bad_version: return Error(Errc::bad_version, welcome->message);
    case WelcomeStatus::refused:
      // The server names only our uid (it does no name lookups); we know who we are.
      return Error(Errc::permission,
                   welcome->message + " (this client runs as " + user_name(::geteuid()) + ")");
    case WelcomeStatus::full: return Error(Errc::busy, welcome->message);
    case WelcomeStatus::bad_request: return Error(Errc::invalid_argument, welcome->message);
    case WelcomeStatus::failed: return Error(Errc::system, welcome->message);
  }
  if (welcome->version != detail::kProtocolVersion) {
    return Error(Errc::bad_version, "the server at " + c.socket_path + " speaks protocol version " +
                                        std::to_string(welcome->version) + ", this client speaks " +
                                        std::to_string(detail::kProtocolVersion));
  }
  if (got->fds.size() != 3) {
    return Error(Errc::corrupt, "the server at " + c.socket_path + " passed " +
                                    std::to_string(got->fds.size()) + " descriptors, expected 3");
  }
  // Each must be a sealed memfd (from_fd checks), or the server could truncate it under us.
  const auto segment_error = [&](const char* what, const Error& e) {
    return Error(e.code(), "the server at " + c.socket_path + " passed a bad " + what +
                               " segment: " + e.message());
  };
  auto seg = SharedMemory::from_fd(got->fds[0].release(), welcome->segment_size);
  if (!seg) return segment_error("connection", seg.error());
  auto bell_mem = SharedMemory::from_fd(got->fds[1].release(), welcome->doorbell_size);
  if (!bell_mem) return segment_error("doorbell", bell_mem.error());
  auto wake_mem =
      SharedMemory::from_fd(got->fds[2].release(), detail::kWakeSegmentSize, ShmAccess::read_only);
  if (!wake_mem) return segment_error("wake", wake_mem.error());
  c.segment = std::move(*seg);
  c.doorbell = std::move(*bell_mem);
  c.wake = std::move(*wake_mem);
  c.segment.close_fd();
  c.doorbell.close_fd();
  c.wake.close_fd();
  c.id = welcome->connection_id;

  auto view = detail::view_connection_segment(c.segment, welcome->connection_id, welcome->slot);
  if (!view) return view.error();
  auto bell = detail::view_doorbell(c.doorbell, welcome->slot);
  if (!bell) return bell.error();
  auto wake_header = detail::view_wake_segment(c.wake);
  if (!wake_header) return wake_header.error();
  // Wakes both ways go through our socket: nothing we share with the server can block
  // either side (waiting.hpp).
  const RingWakeFds wakes{c.socket.get(), c.socket.get(), c.socket.get(), true};
  auto producer = RingProducer::attach(view->c2s, view->c2s_bytes, c.options.wait, wakes);
  if (!producer) return producer.error();
  // Hybrid waits for messages spin in the client (spin_for_message()); the ring itself
  // then sleeps at once.
  WaitOptions in_wait = c.options.wait;
  if (in_wait.strategy == WaitStrategy::hybrid) in_wait.strategy = WaitStrategy::block;
  auto consumer = RingConsumer::attach(view->s2c, view->s2c_bytes, in_wait, wakes);
  if (!consumer) return consumer.error();
  c.out = *producer;
  c.in = std::move(*consumer);
  detail::Doorbell d;
  d.word = &bell->words[welcome->slot / 64];
  d.bit = std::uint64_t{1} << (welcome->slot % 64);
  d.server_state = &(*wake_header)->state;
  d.socket = c.socket.get();
  detail::RingAccess::set_doorbell(c.out, d);
  view->header->client.pid.store(static_cast<std::uint32_t>(::getpid()), std::memory_order_relaxed);
  if (c.ever_connected) ++c.reconnects;
  c.ever_connected = true;
  view->header->client.reconnects.store(c.reconnects, std::memory_order_relaxed);
  c.open = true;
  c.sends_since_check = 0;
  return {};
}

void Client::Impl::close_link() noexcept {
  open = false;
  out = RingProducer();
  in = RingConsumer();
  segment = SharedMemory();
  doorbell = SharedMemory();
  wake = SharedMemory();
  socket.reset();
  requests_in.clear();
}

void Client::Impl::lose(const std::string& reason) {
  if (!open) return;
  LinkEvent event;
  event.kind = LinkEvent::Kind::lost;
  event.reason = reason;
  // What the server published before it died is still ours to read. Replies have nobody
  // waiting for them any more (their requests fail), except those to send_request()s.
  for (;;) {
    auto record = in.peek();
    if (!record) break;
    auto m = unpack(*record);
    if (m && (!m->is_reply() || requests_out.contains(m->correlation))) {
      stored.push_back(
          detail::StoredMessage{m->type, m->flags, m->correlation,
                                std::vector<std::byte>(m->payload.begin(), m->payload.end())});
    }
    in.release(Publish::later);
  }
  // What it never consumed: one-way messages go out again (or back to the application),
  // requests and replies cannot (their peers went with the server).
  // They were all committed before anything still waiting in `resend` (which goes out
  // before any new message), so they go in front of it.
  std::uint64_t unconsumed = 0;
  std::deque<detail::RawMessage> recovered;
  auto walked = out.for_each_unconsumed([&](const RecordView& r) {
    ++unconsumed;
    if (r.header.correlation != 0 || (r.header.flags & wire::kFlagReply) != 0) {
      ++event.dropped;
      return;
    }
    recovered.push_back(detail::RawMessage{
        r.header.type, r.header.flags, std::vector<std::byte>(r.payload.begin(), r.payload.end())});
  });
  if (walked) {
    acked_before += out.next_sequence() - unconsumed;
  } else {
    acked_before += out.consumed_records();
    event.reason += "; which of its messages it consumed cannot be told (" +
                    walked.error().message() + "): " + std::to_string(recovered.size()) +
                    " recovered before the damage";
  }
  event.unsent = recovered.size();
  resend.insert(resend.begin(), std::make_move_iterator(recovered.begin()),
                std::make_move_iterator(recovered.end()));
  if (options.unsent == Unsent::hand_back) {
    for (detail::RawMessage& raw : resend) {
      UnsentMessage u;
      u.type = raw.type;
      const auto codec = compression_from_flags(raw.flags);
      if ((raw.flags & (wire::kFlagLz4 | wire::kFlagZstd)) != 0 && codec) {
        auto size = decompressed_size(raw.payload, SIZE_MAX);
        if (size) {
          u.payload.resize(*size);
          size = decompress(*codec, raw.payload, u.payload, *size);
        }
        if (!size) u.payload = std::move(raw.payload);  // we compressed it: cannot happen
      } else {
        u.payload = std::move(raw.payload);
      }
      handed_back.push_back(std::move(u));
    }
    resend.clear();
  }
  // The send_request()s still unanswered never will be: each gets an error reply.
  for (const detail::StoredMessage& s : stored) {
    if ((s.flags & wire::kFlagReply) != 0) requests_out.erase(s.correlation);
  }
  for (const auto& [corr, type] : requests_out) {
    const std::string text = "the server at " + socket_path +
                             " went away before replying to message type " + std::to_string(type) +
                             " (it may or may not have handled the request): " + reason;
    const auto* bytes = reinterpret_cast<const std::byte*>(text.data());  // NOLINT
    stored.push_back(
        detail::StoredMessage{type, static_cast<std::uint8_t>(wire::kFlagReply | wire::kFlagError),
                              corr, std::vector<std::byte>(bytes, bytes + text.size())});
  }
  requests_out.clear();
  close_link();
  lost_reason = reason;
  lost_at_ns = detail::monotonic_ns();
  next_attempt_ns = lost_at_ns;  // the first retry at once
  backoff_ns = 0;
  attempts = 0;
  resent_since_loss = 0;
  last_attempt_error.clear();
  if (options.on_link) options.on_link(event);
}

Result<void> Client::Impl::ensure_link(const detail::Deadline& deadline) {
  if (closed) return Error(Errc::disconnected, "the client is closed");
  if (open) return {};
  if (!options.reconnect || restoring) {
    return gone();
  }
  for (;;) {
    std::int64_t now = detail::monotonic_ns();
    if (now >= next_attempt_ns) {
      ++attempts;
      auto r = open_link();
      if (r) r = restore(deadline);
      if (r) return {};
      if (open) lose(r.error().message());  // lost again while restoring
      close_link();
      last_attempt_error = r.error().message();
      const std::int64_t cap = std::chrono::nanoseconds(options.reconnect_backoff_max).count();
      backoff_ns = backoff_ns == 0 ? 1'000'000 : std::min(backoff_ns * 2, cap);
      now = detail::monotonic_ns();
      next_attempt_ns = now + backoff_ns;
    }
    if (!deadline.never() && deadline.remaining(now) == 0) {
      return Error(Errc::disconnected, lost_reason + "; not reconnected after " +
                                           std::to_string(attempts) + " attempts in " +
                                           std::to_string((now - lost_at_ns) / 1'000'000) +
                                           " ms (last: " + last_attempt_error + ")");
    }
    sleep_until_ns(deadline.never() ? next_attempt_ns : std::min(next_attempt_ns, deadline.at()));
  }
}

Result<void> Client::Impl::restore(const detail::Deadline& deadline) {
  restoring = true;
  Result<void> r;
  const auto patience = options.connect_timeout;
  for (const std::uint16_t type : subscribed) {
    auto a = request(bus::kSubscribe, bus_payload(bus::kSubscribe, type), patience);
    if (!a) {
      r = a.error();
      break;
    }
  }
  for (const std::uint16_t type : served) {
    if (!r) break;
    auto a = request(bus::kServe, bus_payload(bus::kServe, type), patience);
    if (!a) r = a.error();
  }
  restoring = false;
  if (!r) return r;
  if (auto f = flush_resend(deadline); !f) return f;
  if (options.on_link) {
    LinkEvent event;
    event.kind = LinkEvent::Kind::restored;
    event.resent = resent_since_loss;
    event.attempts = attempts;
    event.down_for = std::chrono::microseconds((detail::monotonic_ns() - lost_at_ns) / 1000);
    options.on_link(event);
  }
  return {};
}

Result<void> Client::Impl::flush_resend(const detail::Deadline& deadline) {
  while (!resend.empty()) {
    const detail::RawMessage& m = resend.front();
    std::chrono::nanoseconds left = kForever;
    if (!deadline.never())
      left = std::chrono::nanoseconds(deadline.remaining(detail::monotonic_ns()));
    auto room = out.reserve(m.payload.size(), left);
    if (!room) {
      if (room.code() == Errc::disconnected) lose(gone().message());
      return ring_error(room.error());
    }
    if (!m.payload.empty()) std::memcpy(room->data(), m.payload.data(), m.payload.size());
    out.commit(m.payload.size(),
               MessageMeta{m.type, static_cast<std::uint8_t>(m.flags | wire::kFlagResent), 0},
               Publish::later);
    resend.pop_front();
    ++resent_since_loss;
  }
  out.publish();
  return {};
}

}  // namespace ferry
