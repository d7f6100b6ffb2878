// SPDX-License-Identifier: Apache-2.0
// client_impl.hpp: what a ferry::Client holds (Client::Impl), shared by client.cpp (sending,
// requests, receiving) and link.cpp (the connection: handshake, loss, reconnecting).
// Thread-safety: as Client, one thread at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "conn/segment.hpp"
#include "control/unix_socket.hpp"
#include "ferry/client.hpp"
#include "ferry/ring.hpp"
#include "ferry/shm.hpp"
#include "wait/waiting.hpp"

namespace ferry {
namespace detail {

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

}  // namespace detail

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
  // send_request()s without their reply yet: correlation id -> message type.
  std::unordered_map<std::uint32_t, std::uint16_t> requests_out;
  std::deque<detail::StoredMessage> stored;
  std::vector<std::byte> scratch;

  // Reliability (docs/reliability.md).
  std::vector<std::uint16_t> subscribed;  // replayed after reconnecting
  std::vector<std::uint16_t> served;
  std::deque<detail::RawMessage> resend;   // Unsent::resend: goes out first once reconnected
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
  // The payload of a bus control request about `type` (ferry/bus.hpp): with `control` a
  // subscribe, the flags this client's options ask for.
  std::vector<std::byte> bus_payload(std::uint16_t control, std::uint16_t type) const;
  bool peer_gone() const noexcept { return detail::hung_up(socket.get()); }

  Result<void> send(std::uint16_t type, std::span<const std::byte> payload,
                    std::uint32_t correlation, std::uint8_t flags, Publish publish = Publish::now);
  // Publishes what was staged with Publish::later (Client::flush(); also on the way out).
  void flush() noexcept {
    if (open) out.publish();
  }
  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  Impl(Impl&&) = delete;
  Impl& operator=(Impl&&) = delete;
  ~Impl() { flush(); }
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

}  // namespace ferry
