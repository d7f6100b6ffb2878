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
// A receiver whose ring is full holds the message back in the sender's ring (backpressure
// to that sender) until it has room; nothing is dropped and nobody receives a message twice.
// Thread-safety: runs on the server's thread, like the handlers it installs.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ferry/server.hpp"

namespace ferryd {

struct BusStats {
  std::uint64_t published = 0;        // messages fanned out
  std::uint64_t deliveries = 0;       // copies handed to subscribers
  std::uint64_t requests = 0;         // requests forwarded to a serving client
  std::uint64_t replies = 0;          // replies routed back
  std::uint64_t no_service = 0;       // requests no client serves (answered with an error)
  std::uint64_t orphan_replies = 0;   // replies whose requester had gone (dropped)
  std::uint64_t failed_requests = 0;  // requests failed because their server disconnected
};

class Bus {
 public:
  // Installs its handlers on `server`; the server must outlive the Bus's use.
  explicit Bus(ferry::Server& server);
  const BusStats& stats() const noexcept { return stats_; }
  // Also told of every disconnection, after the bus has cleaned up after it (for logs).
  void observe_disconnects(ferry::Server::DisconnectHandler observer) {
    observer_ = std::move(observer);
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
    // The receivers a held-back publication already reached (see the top).
    std::vector<ferry::ConnectionId> delivered;
  };

  void on_message(ferry::Request& r);
  void on_control(ferry::Request& r);
  void publish(ferry::Request& r);
  void forward_request(ferry::Request& r);
  void route_reply(ferry::Request& r);
  void on_disconnect(const ferry::ConnectionInfo& info);

  ferry::Server& server_;
  ferry::Server::DisconnectHandler observer_;
  std::unordered_map<std::uint16_t, std::vector<ferry::ConnectionId>> subscribers_;
  std::unordered_map<std::uint16_t, std::vector<ferry::ConnectionId>> servers_;
  std::unordered_map<std::uint16_t, std::size_t> next_server_;
  std::unordered_map<std::uint32_t, Route> routes_;  // by ferryd's correlation id
  std::unordered_map<ferry::ConnectionId, Peer> peers_;
  std::uint32_t next_correlation_ = 1;
  BusStats stats_;
};

}  // namespace ferryd
