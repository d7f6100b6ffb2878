// SPDX-License-Identifier: Apache-2.0
// server_impl.hpp: the state behind ferry::Server (server.cpp: the loop and dispatch;
// accept.cpp: accepting and the handshake).
// Thread-safety: one thread drives it; only stop() touches it from others.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "conn/segment.hpp"
#include "control/owner_lock.hpp"
#include "control/unix_socket.hpp"
#include "ferry/ring.hpp"
#include "ferry/server.hpp"
#include "ferry/shm.hpp"
#include "stat/stat_segment.hpp"

namespace ferry {

// One established connection. Freed only at the end of a turn, so handlers never see it
// vanish under them.
struct ServerConn {
  ConnectionInfo info;
  std::uint32_t slot = 0;
  UniqueFd socket;  // also where wakes go both ways (waiting.hpp)
  SharedMemory segment;
  detail::ConnView view;       // the segment's header and rings, checked at the handshake
  RingConsumer in;             // client -> server
  RingProducer out;            // server -> client
  bool queued = false;         // in the ready list for this or the next turn
  bool blocked = false;        // a handler asked to see its current message again later
  bool dirty = false;          // `out` has staged records to publish
  bool consumed = false;       // `in` has released records to hand back, after the outputs
  bool peer_gone = false;      // the client hung up: serve what it sent, then free
  bool copy_payloads = false;  // handlers see private copies (ServerOptions::payload_copy)
  bool closing = false;        // on the close list
  DisconnectReason reason = DisconnectReason::closed;
};

// A socket that connected and has not finished its handshake. Its credentials were read
// and allowed at accept.
struct PendingHandshake {
  UniqueFd socket;
  detail::PeerCredentials peer;
  std::int64_t deadline_ns = 0;
};

class Server::Impl {
 public:
  explicit Impl(ServerOptions options) : options_(std::move(options)) {}
  // Shuts the endpoint down: what ~Server and assigning to a Server do (server.cpp).
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Result<void> open();
  Result<void> run_once(std::chrono::nanoseconds timeout);
  // Announces a sleep unless there is work (then false). `due_ns`: when the loop must look
  // again even if nobody wakes it (the sweep, a retry, a handshake deadline; INT64_MAX:
  // never). end_sleep() once awake.
  bool prepare_sleep(std::int64_t& due_ns);
  void end_sleep() noexcept;
  void arm_timer(std::int64_t at_ns) noexcept;
  // `prepared`: the payload's CRC is known (Server::send of a FanoutPayload).
  Result<void> send(ConnectionId to, std::uint16_t type, std::span<const std::byte> payload,
                    std::uint32_t correlation, std::uint8_t flags,
                    const FanoutPayload* prepared = nullptr);
  // Closes a connection at the end of the turn; tells the client `why` (or, for
  // protocol_error and server_closed without one, a default), never for `closed`.
  void disconnect(ConnectionId id, DisconnectReason reason, std::string_view why = {});
  ServerConn* find(ConnectionId id) const;

  ServerOptions options_;
  std::string session_;
  std::string socket_path_;
  detail::OwnerLock name_lock_;  // "<socket path minus .sock>.lock", held while we serve
  std::string fd_limit_note_;    // why max_connections is lower than asked, if it is
  UniqueFd listen_;
  UniqueFd epoll_;
  UniqueFd event_;                // ours alone (no client holds it): stop()
  UniqueFd timer_;                // ours alone: the sweep, retries and handshake deadlines
  std::int64_t timer_at_ns_ = 0;  // what timer_ is armed for (0: disarmed)
  SharedMemory doorbell_;
  detail::DoorbellView bell_;
  SharedMemory wake_;  // our sleep word; clients map it read-only (conn_layout.hpp)
  detail::ShmAtomic<std::uint64_t>* sleep_state_ = nullptr;
  std::uint64_t sleep_epoch_ = 0;
  SharedMemory stat_;  // ours alone: counters and peers for observers (conn_layout.hpp)
  detail::StatView stat_view_;
  std::optional<Error> fatal_;  // the loop cannot go on (epoll failed): run*() return it

  std::unordered_map<std::uint16_t, Handler> handlers_;
  Handler default_handler_;
  ConnectHandler on_connect_;
  DisconnectHandler on_disconnect_;

  std::vector<std::unique_ptr<ServerConn>> slots_;  // index: slot
  std::vector<std::uint32_t> free_slots_;           // a min-heap: lowest slot first
  std::unordered_map<ConnectionId, std::uint32_t> by_id_;
  std::unordered_map<std::uint64_t, PendingHandshake> pending_;
  std::unordered_map<uid_t, std::uint32_t> pending_by_uid_;
  std::int64_t accept_retry_at_ns_ = 0;  // paused for lack of descriptors: look again then
  std::uint64_t next_id_ = 1;
  std::uint64_t next_pending_ = 1;

  std::deque<std::uint32_t> ready_;
  std::vector<std::uint32_t> blocked_;
  std::vector<std::uint32_t> dirty_;
  std::vector<std::uint32_t> consumed_;   // slots whose `in` to publish after dirty_
  std::int64_t blocked_retry_at_ns_ = 0;  // when blocked_ is served again at the latest
  bool blocked_due() const noexcept;
  std::vector<std::uint32_t> closing_;
  std::int64_t last_sweep_ns_ = 0;
  // Small loop state side by side (no padding between them).
  std::uint32_t slot_limit_ = 0;        // slots ever used (bounds the bitmap scan)
  std::int32_t work_until_events_ = 0;  // see kWorkPerEventCheck
  std::atomic<bool> stop_{false};
  bool asleep_ = false;    // a sleep is announced (prepare_sleep returned true)
  bool accepting_ = true;  // the listener is in epoll
  bool woken_ = false;     // a client woke us: it may have freed room
  bool in_turn_ = false;
  std::vector<std::byte> scratch_;      // decompressed payloads
  std::vector<std::uint64_t> private_;  // copied payloads (8-byte aligned, as in a ring)
  // The endpoint's counters, in the stat segment (observers read them there).
  detail::ShmAtomic<std::uint64_t>* counters_ = nullptr;
  // NOLINTNEXTLINE(readability-make-member-function-const): writes the shared counters
  void count(detail::EndpointCounter which, std::uint64_t n = 1) noexcept {
    counters_[static_cast<std::size_t>(which)].add_relaxed(n);
  }
  // NOLINTNEXTLINE(readability-make-member-function-const): writes the shared counters
  void set(detail::EndpointCounter which, std::uint64_t value) noexcept {
    counters_[static_cast<std::size_t>(which)].store(value, std::memory_order_relaxed);
  }
  // Adds a closing connection's ring counters, bounded, to the closed totals and frees its
  // peer entry (before its segment goes).
  void retire_counters(const ServerConn& c) noexcept;

  // ServerOptions::handler_histogram: calls until the next timed one. The histogram itself
  // is in the stat segment's extras: this thread writes it, any thread or process reads it.
  std::uint32_t until_sample_ = kHandlerSampleEvery;

 private:
  // server.cpp
  bool turn();
  bool collect_doorbell();
  bool sweep(std::int64_t now);
  std::uint32_t serve(ServerConn& c);  // returns the messages it served
  bool dispatch(ServerConn& c, const RecordView& record);
  void flush_outputs();
  void close_finished();
  void idle_wait(std::chrono::nanoseconds timeout);
  bool doorbell_pending() const noexcept;

  // accept.cpp
  bool handle_events(int timeout_ms);
  void accept_all();
  // Admits one accepted socket as a pending handshake, or refuses it at once.
  void admit(UniqueFd socket);
  void handle_hello(std::uint64_t pending_id);
  void expire_handshakes();
  void erase_pending(std::unordered_map<std::uint64_t, PendingHandshake>::iterator it);
  // The listener leaves epoll while handshakes are at their limit or descriptors ran out
  // (a readable listener we cannot serve would make the loop spin), and comes back when
  // one finishes or at `retry_at_ns` (0: only then).
  void pause_accepting(std::int64_t retry_at_ns);
  void resume_accepting_if_due(std::int64_t now);
  void on_socket_event(ConnectionId id);
  bool allowed(const detail::PeerCredentials& peer) const;
  void reject(UniqueFd socket, int status, const std::string& message);
  // Counts a refused handshake under its reason (a WelcomeStatus; -1: the client left).
  void count_rejected(int status);
};

// How much work (turns plus messages served, or batches of 64 idle polls) may pass between
// two looks at epoll (accepting, hang-ups) while the server is busy: a count, not a clock,
// so the hot path reads no clock.
inline constexpr std::int32_t kWorkPerEventCheck = 1024;
// How often every connection is looked at whatever the doorbell says: a backstop against a
// client that clears other clients' bits (the bitmap is writable by all of them). A client
// whose bit was cleared is served within this, however the loop is driven: the server
// looks at every ring before it sleeps, at most this often, and otherwise sets its timer
// for when it may look again.
inline constexpr std::int64_t kSweepNs = 100'000'000;
// Handshakes in progress at once: in all (then the listener waits, and connecting clients
// wait in its backlog), and from one user other than the server's own (then that user's
// next connection is refused as busy). A silent peer holds one until handshake_timeout.
inline constexpr std::size_t kMaxPendingHandshakes = 256;
inline constexpr std::uint32_t kMaxPendingPerUser = 32;
// After accept() failed for want of descriptors, the next try.
inline constexpr std::int64_t kAcceptRetryNs = 10'000'000;

// epoll tags: the top two bits of epoll_event.data.u64 say what the rest is.
inline constexpr std::uint64_t kTagShift = 62;
inline constexpr std::uint64_t kTagConn = 0;
inline constexpr std::uint64_t kTagListen = 1;
inline constexpr std::uint64_t kTagEvent = 2;  // id 0: event_, id 1: timer_
inline constexpr std::uint64_t kTagPending = 3;
inline constexpr std::uint64_t kTagMask = (std::uint64_t{1} << kTagShift) - 1;

}  // namespace ferry
