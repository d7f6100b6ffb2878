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
// Thread-safety: runs on the server's thread, like the handlers it installs; stats() may
// be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/server.hpp"

namespace ferryd {

// What happens to a subscriber whose ring stays full.
enum class SlowSubscriber : std::uint8_t {
  drop,        // its deliveries are dropped (and counted) until it has room again
  disconnect,  // its connection is closed; its client reconnects by itself
};

struct BusOptions {
  SlowSubscriber slow_subscriber = SlowSubscriber::drop;
  // How long a full subscriber may hold a publication back (0: not at all).
  std::chrono::milliseconds slow_subscriber_timeout{1000};
};

// A snapshot of the bus's counters.
struct BusStats {
  std::uint64_t published = 0;          // messages fanned out
  std::uint64_t deliveries = 0;         // copies handed to subscribers
  std::uint64_t dropped = 0;            // copies dropped for slow subscribers
  std::uint64_t slow_dropped_for = 0;   // times a subscriber began to be dropped for
  std::uint64_t slow_disconnected = 0;  // subscribers disconnected for a full ring
  std::uint64_t requests = 0;           // requests forwarded to a serving client
  std::uint64_t replies = 0;            // replies routed back
  std::uint64_t no_service = 0;         // requests no client serves (answered with an error)
  std::uint64_t orphan_replies = 0;     // replies whose requester had gone
  std::uint64_t failed_requests = 0;    // requests failed because their server disconnected
};

// Something the operator should hear about, for ferryd's log. Never payload bytes.
struct BusEvent {
  const char* event = "";  // slow_subscriber, slow_subscriber_recovered
  bool warning = false;    // else info
  std::string msg;
  const ferry::ConnectionInfo* peer = nullptr;  // the client it is about
  std::uint16_t type = 0;                       // the message type, where one applies
  std::uint64_t count = 0;                      // deliveries dropped
};

class Bus {
 public:
  // Installs its handlers on `server`; the server must outlive the Bus's use.
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

 private:
  struct Route {
    ferry::ConnectionId server = 0;  // who must answer
    ferry::ConnectionId requester = 0;
    std::uint32_t correlation = 0;  // the requester's
    std::uint16_t type = 0;
  };
  struct Peer {
    std::vector<std::uint16_t> subscribed;
    std::vector<std::uint16_t> served;
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
  };
  struct Counters {
    std::atomic<std::uint64_t> published{0}, deliveries{0}, dropped{0}, slow_dropped_for{0},
        slow_disconnected{0}, requests{0}, replies{0}, no_service{0}, orphan_replies{0},
        failed_requests{0};
  };

  void on_message(ferry::Request& r);
  void on_control(ferry::Request& r);
  void publish(ferry::Request& r);
  // The policy for subscriber `to` whose ring is full: true when the publication may go on
  // without it, false when it must be held (and it is, with r.retry_later()).
  bool on_full_subscriber(ferry::Request& r, Peer& publisher, ferry::ConnectionId to);
  void on_delivered(ferry::ConnectionId to);
  void forward_request(ferry::Request& r);
  void route_reply(ferry::Request& r);
  void on_disconnect(const ferry::ConnectionInfo& info);
  void emit(const char* event, bool warning, std::string msg, ferry::ConnectionId about,
            std::uint16_t type, std::uint64_t count);
  std::string describe(ferry::ConnectionId id) const;  // "'name' (pid N)"
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  ferry::Server& server_;
  BusOptions options_;
  ferry::Server::DisconnectHandler observer_;
  std::function<void(const BusEvent&)> events_;
  std::unordered_map<std::uint16_t, std::vector<ferry::ConnectionId>> subscribers_;
  std::unordered_map<std::uint16_t, std::vector<ferry::ConnectionId>> servers_;
  std::unordered_map<std::uint16_t, std::size_t> next_server_;
  std::unordered_map<std::uint32_t, Route> routes_;  // by ferryd's correlation id
  std::unordered_map<ferry::ConnectionId, Peer> peers_;
  std::uint32_t next_correlation_ = 1;
  Counters counters_;
};

}  // namespace ferryd
