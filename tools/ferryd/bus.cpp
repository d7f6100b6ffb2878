// ferryd's bus (bus.hpp).
#include "ferryd/bus.hpp"

#include <algorithm>
#include <string>

#include "ferry/wire.hpp"

namespace ferryd {

using ferry::ConnectionId;
using ferry::Errc;
using ferry::Request;

namespace {

std::string type_name(std::uint16_t type) {
  return "message type " + std::to_string(type);
}

// A send that could not happen now because the receiver's ring is full.
bool must_wait(const ferry::Result<void>& r) {
  return r.code() == Errc::would_block;
}

void erase_value(std::vector<ConnectionId>& v, ConnectionId id) {
  v.erase(std::remove(v.begin(), v.end(), id), v.end());
}

}  // namespace

Bus::Bus(ferry::Server& server) : server_(server) {
  server_.on_default([this](Request& r) { on_message(r); });
  for (std::uint16_t t : {ferry::bus::kSubscribe, ferry::bus::kUnsubscribe, ferry::bus::kServe,
                          ferry::bus::kUnserve}) {
    server_.on(t, [this](Request& r) { on_control(r); });
  }
  server_.on_disconnect([this](const ferry::ConnectionInfo& info, ferry::DisconnectReason why) {
    on_disconnect(info);
    if (observer_) observer_(info, why);
  });
}

std::size_t Bus::subscribers(std::uint16_t type) const {
  auto it = subscribers_.find(type);
  return it == subscribers_.end() ? 0 : it->second.size();
}

void Bus::on_message(Request& r) {
  const ferry::Message& m = r.message();
  if (m.type >= ferry::kReservedTypes) {
    if (m.is_request()) {
      auto ok = r.reply_error("ferryd does not know the reserved " + type_name(m.type));
      if (must_wait(ok)) r.retry_later();
    }
    return;
  }
  if (m.is_reply()) {
    route_reply(r);
  } else if (m.is_request()) {
    forward_request(r);
  } else {
    publish(r);
  }
}

void Bus::publish(Request& r) {
  const ferry::Message& m = r.message();
  auto it = subscribers_.find(m.type);
  if (it == subscribers_.end() || it->second.empty()) {
    ++stats_.published;
    return;
  }
  std::vector<ConnectionId>& delivered = peers_[r.connection()].delivered;
  for (ConnectionId to : it->second) {
    if (std::find(delivered.begin(), delivered.end(), to) != delivered.end()) continue;
    // A publication sent again after a ferryd died stays marked for its subscribers.
    auto sent = server_.send(to, m.type, m.payload, 0,
                             static_cast<std::uint8_t>(m.flags & ferry::wire::kFlagResent));
    if (must_wait(sent)) {
      // Hold the message in the publisher's ring; the ones reached so far are remembered
      // so that nobody gets it twice when it comes round again.
      r.retry_later();
      return;
    }
    if (sent) ++stats_.deliveries;
    delivered.push_back(to);
  }
  delivered.clear();
  ++stats_.published;
}

void Bus::forward_request(Request& r) {
  const ferry::Message& m = r.message();
  auto it = servers_.find(m.type);
  if (it == servers_.end() || it->second.empty()) {
    ++stats_.no_service;
    auto ok = r.reply_error("no client serves " + type_name(m.type) + " on this bus");
    if (must_wait(ok)) r.retry_later();
    return;
  }
  std::size_t& next = next_server_[m.type];
  const ConnectionId to = it->second[next % it->second.size()];
  std::uint32_t correlation = next_correlation_++;
  while (correlation == 0 || routes_.contains(correlation)) correlation = next_correlation_++;
  auto sent = server_.send(to, m.type, m.payload, correlation);
  if (must_wait(sent)) {
    r.retry_later();
    return;
  }
  if (!sent) {
    auto ok = r.reply_error("the client serving " + type_name(m.type) +
                            " could not take the request: " + sent.error().message());
    if (must_wait(ok)) r.retry_later();
    return;
  }
  ++next;
  routes_[correlation] = Route{to, r.connection(), m.correlation, m.type};
  ++stats_.requests;
}

void Bus::route_reply(Request& r) {
  const ferry::Message& m = r.message();
  auto it = routes_.find(m.correlation);
  if (it == routes_.end() || it->second.server != r.connection()) {
    ++stats_.orphan_replies;  // the requester left, or a reply nobody asked this client for
    return;
  }
  const Route route = it->second;
  auto sent = server_.send(
      route.requester, m.type, m.payload, route.correlation,
      static_cast<std::uint8_t>(m.flags & (ferry::wire::kFlagReply | ferry::wire::kFlagError)));
  if (must_wait(sent)) {
    r.retry_later();
    return;
  }
  routes_.erase(it);
  if (sent) {
    ++stats_.replies;
  } else {
    ++stats_.orphan_replies;
  }
}

void Bus::on_control(Request& r) {
  const ferry::Message& m = r.message();
  if (!m.is_request() || m.payload.size() != 2) {
    if (m.is_request()) {
      auto ok = r.reply_error("a bus control request carries one 2-byte message type");
      if (must_wait(ok)) r.retry_later();
    }
    return;
  }
  const auto type = static_cast<std::uint16_t>(std::to_integer<unsigned>(m.payload[0]) |
                                               (std::to_integer<unsigned>(m.payload[1]) << 8));
  if (type >= ferry::kReservedTypes) {
    auto ok = r.reply_error(type_name(type) + " is reserved for ferry; use 0 to 65279");
    if (must_wait(ok)) r.retry_later();
    return;
  }
  const ConnectionId id = r.connection();
  Peer& peer = peers_[id];
  auto add = [&](std::vector<ConnectionId>& list, std::vector<std::uint16_t>& mine) {
    if (std::find(list.begin(), list.end(), id) == list.end()) list.push_back(id);
    if (std::find(mine.begin(), mine.end(), type) == mine.end()) mine.push_back(type);
  };
  auto remove = [&](std::vector<ConnectionId>& list, std::vector<std::uint16_t>& mine) {
    erase_value(list, id);
    mine.erase(std::remove(mine.begin(), mine.end(), type), mine.end());
  };
  switch (m.type) {
    case ferry::bus::kSubscribe: add(subscribers_[type], peer.subscribed); break;
    case ferry::bus::kUnsubscribe: remove(subscribers_[type], peer.subscribed); break;
    case ferry::bus::kServe: add(servers_[type], peer.served); break;
    case ferry::bus::kUnserve: remove(servers_[type], peer.served); break;
    default: break;
  }
  // Acknowledge (idempotent, so answering again after a retry is harmless).
  if (must_wait(r.reply({}))) r.retry_later();
}

void Bus::on_disconnect(const ferry::ConnectionInfo& info) {
  auto it = peers_.find(info.id);
  if (it != peers_.end()) {
    for (std::uint16_t t : it->second.subscribed) erase_value(subscribers_[t], info.id);
    for (std::uint16_t t : it->second.served) erase_value(servers_[t], info.id);
    peers_.erase(it);
  }
  for (auto r = routes_.begin(); r != routes_.end();) {
    const Route route = r->second;
    if (route.requester == info.id) {
      r = routes_.erase(r);  // its reply, if it comes, is dropped
    } else if (route.server == info.id) {
      // The request can never be answered: tell the requester now rather than let it time out.
      const std::string text =
          "the client serving " + type_name(route.type) + " disconnected before replying";
      (void)server_.send(
          route.requester, route.type,
          std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()),  // NOLINT
                                     text.size()),
          route.correlation, ferry::wire::kFlagReply | ferry::wire::kFlagError);
      ++stats_.failed_requests;
      r = routes_.erase(r);
    } else {
      ++r;
    }
  }
  // A held-back publication from it will not come round again; forget who it reached.
}

}  // namespace ferryd
