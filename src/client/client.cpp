// ferry::Client (client.hpp): the handshake, sending, request/response, receiving, and
// what happens when the server goes away (lose(), ensure_link(), docs/reliability.md).
#include "ferry/client.hpp"

#include <poll.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <iterator>
#include <new>
#include <string>
#include <unordered_set>

#include "conn/segment.hpp"
#include "control/handshake.hpp"
#include "control/unix_socket.hpp"
#include "ferry/bus.hpp"
#include "ferry/ring.hpp"
#include "ferry/session.hpp"
#include "ferry/shm.hpp"
#include "ring/ring_access.hpp"
#include "wait/waiting.hpp"

namespace ferry {

namespace {

// A message kept for poll() because it arrived while request() waited for its reply.
struct StoredMessage {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t correlation = 0;
  std::vector<std::byte> payload;
};

// A one-way message a dead server never consumed, as it was framed (maybe compressed).
struct RawMessage {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;
  std::vector<std::byte> payload;
};

// send() reads the clock every kSendsPerClockLook sends, and poll() finding nothing each
// time; either looks at the socket when kLivenessCheckNs have passed since the last look.
constexpr std::uint32_t kSendsPerClockLook = 16;
constexpr std::int64_t kLivenessCheckNs = 1'000'000;

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

std::span<const std::byte> text_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};  // NOLINT
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  std::string session;
  std::string socket_path;
  ConnectionId id = 0;
  // The connection; all reset when it is lost.
  UniqueFd socket;  // also where wakes go both ways (waiting.hpp)
  SharedMemory segment;
  SharedMemory doorbell;
  SharedMemory wake;                              // the server's sleep word, mapped read-only
  RingProducer out;                               // client -> server
  RingConsumer in;                                // server -> client
  bool open = false;                              // the connection is up
  bool closed = false;                            // close() was called
  std::unordered_set<std::uint32_t> requests_in;  // served requests received, not answered

  std::uint32_t next_correlation = 1;
  std::deque<StoredMessage> stored;
  std::vector<std::byte> scratch;

  // Reliability (docs/reliability.md).
  std::vector<std::uint16_t> subscribed;  // replayed after reconnecting
  std::vector<std::uint16_t> served;
  std::deque<RawMessage> resend;           // Unsent::resend: goes out first once reconnected
  std::vector<UnsentMessage> handed_back;  // Unsent::hand_back: for take_unsent()
  std::uint64_t acked_before = 0;          // consumed on earlier connections
  std::uint32_t sends_since_check = 0;
  std::int64_t last_liveness_check_ns = 0;
  std::string lost_reason;
  std::int64_t lost_at_ns = 0;
  std::int64_t next_attempt_ns = 0;
  std::int64_t backoff_ns = 0;
  std::uint32_t attempts = 0;
  std::string last_attempt_error;
  std::size_t resent_since_loss = 0;
  bool restoring = false;  // inside restore(): no second reconnect from its requests
  bool ever_connected = false;
  std::uint32_t reconnects = 0;  // links made after the first (shown to observers)

  // Why the link is gone: with what the server said if it said goodbye (read while the
  // segment is mapped), or as lose() recorded it.
  Error gone() const {
    if (!segment && !lost_reason.empty()) return Error(Errc::disconnected, lost_reason);
    std::string why = "the server at " + socket_path + " closed the connection";
    if (segment) {
      const std::string goodbye = detail::read_goodbye(*view_header());
      if (!goodbye.empty()) why += ": " + goodbye;
    }
    return Error(Errc::disconnected, why);
  }
  const detail::ConnHeader* view_header() const {
    return std::launder(static_cast<const detail::ConnHeader*>(segment.data()));
  }
  Error ring_error(const Error& e) const {
    if (e.code() == Errc::disconnected) return gone();
    return Error(e.code(), "connection to " + socket_path + ": " + e.message());
  }
  // Connects and performs the handshake; on success the connection is up.
  Result<void> open_link();
  void close_link() noexcept;
  // The server is gone: keep what it published and what it never consumed, tell on_link.
  void lose(const std::string& reason);
  // Up, reconnecting (with backoff) until `deadline` if need be.
  Result<void> ensure_link(const detail::Deadline& deadline);
  // After reconnecting: subscriptions, served types, then the messages to send again.
  Result<void> restore(const detail::Deadline& deadline);
  Result<void> flush_resend(const detail::Deadline& deadline);
  bool peer_gone() const noexcept { return detail::hung_up(socket.get()); }

  Result<void> send(std::uint16_t type, std::span<const std::byte> payload,
                    std::uint32_t correlation, std::uint8_t flags);
  // Room for n bytes in the ring, waiting up to `timeout` for it, reconnecting first if need
  // be. The common case reads no clock: connected, nothing to send again, room now.
  Result<std::span<std::byte>> reserve(std::size_t n, std::chrono::nanoseconds timeout);
  Result<Reply> request(std::uint16_t type, std::span<const std::byte> payload,
                        std::chrono::nanoseconds timeout);
  // The hybrid spin before a wait for a message (the ring then sleeps at once): 2 us of
  // pure polling, then polls with sched_yield() between them, up to options.wait.spin_for.
  // Measured with ferry bench reqrep (32 clients, 2 cores): 0.47M replies/s against 0.35M
  // for a pure spin of the same length; pingpong unchanged.
  void spin_for_message() const;
  // Turns a ring record into a Message, decompressing into `scratch` if needed.
  Result<Message> unpack(const RecordView& record);
  std::uint32_t correlation() {
    if (next_correlation == 0) next_correlation = 1;
    return next_correlation++;
  }
};

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
  // waiting for them any more: their requests fail.
  for (;;) {
    auto record = in.peek();
    if (!record) break;
    auto m = unpack(*record);
    if (m && !m->is_reply()) {
      stored.push_back(StoredMessage{m->type, m->flags, m->correlation,
                                     std::vector<std::byte>(m->payload.begin(), m->payload.end())});
    }
    in.release(Publish::later);
  }
  // What it never consumed: one-way messages go out again (or back to the application),
  // requests and replies cannot (their peers went with the server).
  // They were all committed before anything still waiting in `resend` (which goes out
  // before any new message), so they go in front of it.
  std::uint64_t unconsumed = 0;
  std::deque<RawMessage> recovered;
  auto walked = out.for_each_unconsumed([&](const RecordView& r) {
    ++unconsumed;
    if (r.header.correlation != 0 || (r.header.flags & wire::kFlagReply) != 0) {
      ++event.dropped;
      return;
    }
    recovered.push_back(RawMessage{r.header.type, r.header.flags,
                                   std::vector<std::byte>(r.payload.begin(), r.payload.end())});
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
    for (RawMessage& raw : resend) {
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
    auto a =
        request(bus::kSubscribe,
                std::array<std::byte, 2>{std::byte(type & 0xff), std::byte(type >> 8)}, patience);
    if (!a) {
      r = a.error();
      break;
    }
  }
  for (const std::uint16_t type : served) {
    if (!r) break;
    auto a =
        request(bus::kServe, std::array<std::byte, 2>{std::byte(type & 0xff), std::byte(type >> 8)},
                patience);
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
    const RawMessage& m = resend.front();
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
                                std::uint32_t correlation, std::uint8_t flags) {
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
  out.commit(n, meta);
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

Result<void> Client::send(std::uint16_t type, std::span<const std::byte> payload) {
  if (type >= kReservedTypes) {
    return Error(Errc::invalid_argument, "message type " + std::to_string(type) +
                                             " is reserved for ferry; use 0 to " +
                                             std::to_string(kReservedTypes - 1));
  }
  return impl_->send(type, payload, 0, 0);
}

Result<std::span<std::byte>> Client::reserve(std::size_t n) {
  return impl_->reserve(n, impl_->options.send_timeout);
}

void Client::commit(std::size_t n, std::uint16_t type) {
  impl_->out.commit(n, MessageMeta{type, 0, 0});
}

Result<Reply> Client::request(std::uint16_t type, std::span<const std::byte> payload,
                              std::chrono::nanoseconds timeout) {
  return impl_->request(type, payload, timeout);
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
    if (m->is_reply()) {
      if (m->correlation != corr) {
        in.release();  // the late reply to a request that timed out: nobody waits for it
        continue;
      }
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
    stored.push_back(StoredMessage{m->type, m->flags, m->correlation,
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
  std::size_t n = 0;
  while (n < max && !c.stored.empty()) {
    StoredMessage s = std::move(c.stored.front());
    c.stored.pop_front();
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

namespace {
std::array<std::byte, 2> type_payload(std::uint16_t type) {
  return {std::byte(type & 0xff), std::byte(type >> 8)};
}

void remember(std::vector<std::uint16_t>& list, std::uint16_t type, bool on) {
  auto it = std::find(list.begin(), list.end(), type);
  if (on && it == list.end()) list.push_back(type);
  if (!on && it != list.end()) list.erase(it);
}
}  // namespace

Result<void> Client::subscribe(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kSubscribe, type_payload(type), timeout);
  if (!r) return r.error();
  remember(impl_->subscribed, type, true);
  return {};
}

Result<void> Client::unsubscribe(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kUnsubscribe, type_payload(type), timeout);
  if (!r) return r.error();
  remember(impl_->subscribed, type, false);
  return {};
}

Result<void> Client::serve(std::uint16_t type, std::chrono::nanoseconds timeout) {
  auto r = request(bus::kServe, type_payload(type), timeout);
  if (!r) return r.error();
  remember(impl_->served, type, true);
  return {};
}

int Client::fd() const noexcept {
  return impl_ && impl_->open ? impl_->socket.get() : -1;
}

bool Client::prepare_wait() {
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
  impl_->close_link();
  impl_->closed = true;
}

}  // namespace ferry
