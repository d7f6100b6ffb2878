// SPDX-License-Identifier: Apache-2.0
// ferryd/bus.hpp: the local message bus ferryd runs on a ferry::Server.
//
//   publish    a message without a correlation id goes to every client subscribed to its
//              type (the sender too, if it subscribed), in the order each publisher sent
//   request    a message with a correlation id goes to one client serving its type (round
//              robin among several) under a correlation id of ferryd's; the reply is routed
//              back to the requester under the requester's id
//   control    subscribe / unsubscribe / serve / unserve (ferry::bus::k*), acknowledged
//
// Each message is copied once per receiver, from the sender's ring into the receiver's.
// A subscriber whose ring is full holds the publication back in the publisher's ring
// (backpressure to that publisher) for at most BusOptions::slow_subscriber_timeout; then
// the subscribers still full are dropped for (each missed delivery counted) or
// disconnected (BusOptions::slow_subscriber). Nobody receives a publication twice, and each
// subscriber receives a publisher's messages in the order they were sent (with gaps where
// it was dropped for). A dropped-for subscriber holds nobody back again until its ring has
// had room for slow_subscriber_timeout.
//
// A request waits in ferryd (a route) until its serving client answers, at most
// BusOptions::request_timeout: then the requester gets an error reply naming the serving
// client. A requester whose ring is full is a slow subscriber of its replies: a reply holds
// the serving client's ring back at most slow_subscriber_timeout, then the policy applies. A
// serving client holds at most BusOptions::max_outstanding_requests unanswered requests; the next
// ones are refused with an error reply. An error reply for a requester whose ring is full is kept
// and sent when it has room; that requester's new requests wait behind it.
//
// Its counters are published in the server's stat segment (ferryd/published.hpp), where
// other processes read them (ferry exporter).
// Thread-safety: runs on the server's thread, like the handlers it installs; stats() may
// be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/bus.hpp"
#include "ferry/server.hpp"
#include "ferryd/published.hpp"

namespace ferry::ferryd {

// What happens to a subscriber whose ring stays full.
enum class SlowSubscriber : std::uint8_t {
  drop,        // its deliveries are dropped (and counted) until it has room again
  disconnect,  // its connection is closed; its client reconnects by itself
};

struct BusOptions {
  SlowSubscriber slow_subscriber = SlowSubscriber::drop;
  // How long a full subscriber may hold a publication back (0: not at all).
  std::chrono::milliseconds slow_subscriber_timeout{1000};
  // Most unanswered requests one serving connection may hold; more are refused.
  std::uint32_t max_outstanding_requests = 4096;
  // A request unanswered this long fails with an error reply to its requester.
  std::chrono::milliseconds request_timeout{30000};
};

// A snapshot of the bus's counters.
struct BusStats {
  std::uint64_t published = 0;          // messages fanned out
  std::uint64_t deliveries = 0;         // copies handed to subscribers
  std::uint64_t dropped = 0;            // copies (and replies) dropped for slow receivers
  std::uint64_t slow_dropped_for = 0;   // times a subscriber began to be dropped for
  std::uint64_t slow_disconnected = 0;  // subscribers disconnected for a full ring
  std::uint64_t requests = 0;           // requests forwarded to a serving client
  std::uint64_t replies = 0;            // replies routed back
  std::uint64_t no_service = 0;         // requests no client serves (answered with an error)
  std::uint64_t refused = 0;            // requests refused: the server had too many unanswered
  std::uint64_t expired = 0;            // requests unanswered within request_timeout
  std::uint64_t orphan_replies = 0;     // replies whose requester had gone, or came too late
  std::uint64_t failed_requests = 0;    // requests failed because their server disconnected
  std::uint64_t errors_held = 0;        // error replies kept for a requester whose ring was full
  std::uint64_t routes = 0;             // requests waiting for their reply now (a gauge)
};

// Something the operator should hear about, for ferryd's log. Never payload bytes.
struct BusEvent {
  const char* event = "";  // slow_subscriber, slow_subscriber_recovered, request_expired, ...
  bool warning = false;    // else info
  std::string msg;
  const ferry::ConnectionInfo* peer = nullptr;  // the client it is about
  std::uint16_t type = 0;                       // the message type, where one applies
  std::uint64_t count = 0;                      // deliveries dropped, requests outstanding, ...
};

class Bus {
 public:
  // Installs its handlers on `server`; the server must outlive the Bus's use, and stay where
  // it is meanwhile (the Bus keeps its address: do not move the Server after this).
  explicit Bus(ferry::Server& server, BusOptions options = {});
  BusStats stats() const noexcept;
  // Also told of every disconnection, after the bus has cleaned up after it (for logs).
  void observe_disconnects(ferry::Server::DisconnectHandler observer) {
    observer_ = std::move(observer);
  }
  void observe_events(std::function<void(const BusEvent&)> observer) {
    events_ = std::move(observer);
  }
  std::size_t subscribers(std::uint16_t type) const;

  // Expires the requests whose time is up and sends the error replies held for full rings.
  // Call after each turn of the server (Server::run_once).
  void tick();
  // How long the server may sleep before tick() has work: the time to the next expiry, at
  // least kTickGranularity, at most `idle` (also when nothing is pending).
  std::chrono::nanoseconds next_tick(std::chrono::nanoseconds idle) const;
  static constexpr std::chrono::milliseconds kTickGranularity{10};

 private:
  struct Route {
    ferry::ConnectionId server = 0;  // who must answer
    ferry::ConnectionId requester = 0;
    std::uint32_t correlation = 0;  // the requester's
    std::uint16_t type = 0;
    std::int64_t deadline_ns = 0;
  };
  struct Deadline {
    std::int64_t at_ns = 0;
    std::uint32_t correlation = 0;  // ferryd's
  };
  // An error reply that found its requester's ring full.
  struct HeldError {
    std::uint16_t type = 0;
    std::uint32_t correlation = 0;  // the requester's
    std::string text;
  };
  struct Peer {
    std::vector<std::uint16_t> subscribed;
    std::vector<std::uint16_t> served;
    bool no_echo = false;  // its own publications are not delivered to it (its last subscribe)
    // As a publisher: the receivers a held-back publication already reached, and since
    // when it is held (0: not held).
    std::vector<ferry::ConnectionId> delivered;
    std::int64_t held_since_ns = 0;
    // As a subscriber: since when its ring is full (0: it had room at the last delivery);
    // while `lagging`, full means dropped, and the last time it was.
    std::int64_t full_since_ns = 0;
    bool lagging = false;
    std::int64_t last_drop_ns = 0;
    std::uint64_t dropped_in_episode = 0;
    // As a serving client: requests routed to it and not answered yet; `refusing` while it
    // is at the limit (logged once per episode).
    std::uint32_t outstanding = 0;
    bool refusing = false;
    // As a requester: error replies its full ring could not take yet, oldest first.
    std::deque<HeldError> held_errors;
  };

  void on_message(ferry::Request& r);
  void on_control(ferry::Request& r);
  void publish(ferry::Request& r);
  // The policy for subscriber `to` (or requester: the reply is its delivery) whose ring is
  // full: true when the message may go on without it, false when it must be held (and it
  // is, with r.retry_later()). `publisher` is the peer whose ring holds the message.
  bool on_full_subscriber(ferry::Request& r, Peer& publisher, ferry::ConnectionId to);
  void on_delivered(ferry::ConnectionId to);
  void forward_request(ferry::Request& r);
  // The next serving client of `type` (round robin) below its limit, or 0.
  ferry::ConnectionId pick_server(std::uint16_t type);
  void route_reply(ferry::Request& r);
  void end_route(const Route& route);
  // An error reply to `requester`, kept for later when its ring is full.
  void send_error(ferry::ConnectionId requester, std::uint16_t type, std::uint32_t correlation,
                  std::string text);
  // Sends what is held for `requester`; true when nothing is left.
  bool flush_errors(ferry::ConnectionId requester, Peer& peer);
  void expire(std::int64_t now_ns);
  void on_disconnect(const ferry::ConnectionInfo& info);
  void emit(const char* event, bool warning, std::string msg, ferry::ConnectionId about,
            std::uint16_t type, std::uint64_t count);
  std::string describe(ferry::ConnectionId id) const;  // "'name' (pid N)"
  // One writer (this thread): a relaxed load and store.
  void bump(BusCounter c, std::uint64_t n = 1) noexcept {
    std::atomic<std::uint64_t>& counter = *counters_[static_cast<std::size_t>(c)];
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void set(BusCounter c, std::uint64_t value) noexcept {
    counters_[static_cast<std::size_t>(c)]->store(value, std::memory_order_relaxed);
  }

  ferry::Server& server_;
  BusOptions options_;
  ferry::Server::DisconnectHandler observer_;
  std::function<void(const BusEvent&)> events_;
  std::unordered_map<std::uint16_t, std::vector<ferry::ConnectionId>> subscribers_;
  std::unordered_map<std::uint16_t, std::vector<ferry::ConnectionId>> servers_;
  std::unordered_map<std::uint16_t, std::size_t> next_server_;
  std::unordered_map<std::uint32_t, Route> routes_;  // by ferryd's correlation id
  // Routes in the order they expire (one timeout for all); entries of routes that were
  // answered stay until they come up or the deque is compacted.
  std::deque<Deadline> deadlines_;
  std::vector<ferry::ConnectionId> owed_;  // requesters with held error replies
  std::unordered_map<ferry::ConnectionId, Peer> peers_;
  // The publication being delivered to several subscribers: copied once, its CRC computed once.
  ferry::FanoutPayload fanout_;
  std::uint32_t next_correlation_ = 1;
  // The counters, in the server's stat segment (Server::publish_metric), or in
  // `unpublished_` for any the server had no room for.
  std::array<std::atomic<std::uint64_t>*, kBusCounters> counters_{};
  std::array<std::atomic<std::uint64_t>, kBusCounters> unpublished_{};
};

}  // namespace ferry::ferryd
