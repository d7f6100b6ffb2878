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

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t to_ns(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

constexpr std::uint8_t kErrorReply = ferry::wire::kFlagReply | ferry::wire::kFlagError;

}  // namespace

Bus::Bus(ferry::Server& server, BusOptions options) : server_(server), options_(options) {
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

BusStats Bus::stats() const noexcept {
  const auto get = [](const std::atomic<std::uint64_t>& c) {
    return c.load(std::memory_order_relaxed);
  };
  const Counters& c = counters_;
  BusStats s;
  s.published = get(c.published);
  s.deliveries = get(c.deliveries);
  s.dropped = get(c.dropped);
  s.slow_dropped_for = get(c.slow_dropped_for);
  s.slow_disconnected = get(c.slow_disconnected);
  s.requests = get(c.requests);
  s.replies = get(c.replies);
  s.no_service = get(c.no_service);

  s.orphan_replies = get(c.orphan_replies);
  s.failed_requests = get(c.failed_requests);

  return s;
}

std::size_t Bus::subscribers(std::uint16_t type) const {
  auto it = subscribers_.find(type);
  return it == subscribers_.end() ? 0 : it->second.size();
}

std::string Bus::describe(ConnectionId id) const {
  const ferry::ConnectionInfo* c = server_.connection(id);
  if (c == nullptr) return "connection " + std::to_string(id);
  return "'" + c->name + "' (pid " + std::to_string(c->pid) + ")";
}

void Bus::emit(const char* event, bool warning, std::string msg, ConnectionId about,
               std::uint16_t type, std::uint64_t count) {
  if (!events_) return;
  BusEvent e;
  e.event = event;
  e.warning = warning;
  e.msg = std::move(msg);
  e.peer = server_.connection(about);
  e.type = type;
  e.count = count;
  events_(e);
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

// ---------------------------------------------------------------------------- publish

void Bus::publish(Request& r) {
  const ferry::Message& m = r.message();
  auto it = subscribers_.find(m.type);
  if (it == subscribers_.end() || it->second.empty()) {
    bump(counters_.published);
    return;
  }
  Peer& publisher = peers_[r.connection()];
  std::vector<ConnectionId>& delivered = publisher.delivered;
  for (ConnectionId to : it->second) {
    if (std::find(delivered.begin(), delivered.end(), to) != delivered.end()) continue;
    // A publication sent again after a ferryd died stays marked for its subscribers.
    auto sent = server_.send(to, m.type, m.payload, 0,
                             static_cast<std::uint8_t>(m.flags & ferry::wire::kFlagResent));
    if (must_wait(sent)) {
      // Held in the publisher's ring, the ones reached so far are remembered so that nobody
      // gets it twice when it comes round again; or it goes on without this subscriber.
      if (!on_full_subscriber(r, publisher, to)) return;
    } else if (sent) {
      bump(counters_.deliveries);
      on_delivered(to);
    }
    delivered.push_back(to);
  }
  delivered.clear();
  publisher.held_since_ns = 0;
  bump(counters_.published);
}

bool Bus::on_full_subscriber(Request& r, Peer& publisher, ConnectionId to) {
  Peer& subscriber = peers_[to];
  const std::int64_t now = now_ns();
  if (subscriber.lagging) {  // dropped for already: it holds nobody back
    bump(counters_.dropped);
    ++subscriber.dropped_in_episode;
    subscriber.last_drop_ns = now;
    return true;
  }
  if (subscriber.full_since_ns == 0) subscriber.full_since_ns = now;
  if (publisher.held_since_ns == 0) publisher.held_since_ns = now;
  // Whichever is longer: how long this subscriber has been full, or this publication held
  // (so that several full subscribers together hold it no longer than one).
  const std::int64_t waited = now - std::min(subscriber.full_since_ns, publisher.held_since_ns);
  const std::int64_t limit = to_ns(options_.slow_subscriber_timeout);
  if (waited < limit) {
    r.retry_later();
    return false;
  }
  const std::uint16_t type = r.message().type;
  const std::string who = describe(to) + " kept " + type_name(type) + " waiting for " +
                          std::to_string(options_.slow_subscriber_timeout.count()) +
                          " ms with a full ring";
  if (options_.slow_subscriber == SlowSubscriber::disconnect) {
    bump(counters_.slow_disconnected);
    emit("slow_subscriber", true,
         who + ": disconnected (slow_subscriber = disconnect); its client reconnects by itself", to,
         type, 0);
    // At the end of the turn; its subscriptions go with it. Its client is told why.
    server_.disconnect(to, "ferryd: its ring stayed full for " +
                               std::to_string(options_.slow_subscriber_timeout.count()) +
                               " ms with " + type_name(type) +
                               " waiting (slow_subscriber = disconnect)");
    return true;
  }
  subscriber.lagging = true;
  subscriber.dropped_in_episode = 1;
  subscriber.last_drop_ns = now;
  bump(counters_.dropped);
  bump(counters_.slow_dropped_for);
  emit("slow_subscriber", true,
       who + ": dropping what it has no room for until it reads again (slow_subscriber = drop)", to,
       type, 0);
  return true;
}

void Bus::on_delivered(ConnectionId to) {
  auto it = peers_.find(to);
  if (it == peers_.end()) return;
  Peer& s = it->second;
  s.full_since_ns = 0;
  if (!s.lagging) return;
  // The episode ends once its ring has had room for a whole timeout.
  if (now_ns() - s.last_drop_ns < to_ns(options_.slow_subscriber_timeout)) return;
  s.lagging = false;
  emit("slow_subscriber_recovered", false,
       describe(to) + " reads again; " + std::to_string(s.dropped_in_episode) +
           " deliveries to it were dropped",
       to, 0, s.dropped_in_episode);
  s.dropped_in_episode = 0;
}

// ---------------------------------------------------------------------------- requests

void Bus::forward_request(Request& r) {
  const ferry::Message& m = r.message();
  auto it = servers_.find(m.type);
  if (it == servers_.end() || it->second.empty()) {
    auto ok = r.reply_error("no client serves " + type_name(m.type) + " on this bus");
    if (must_wait(ok)) {
      r.retry_later();
    } else {
      bump(counters_.no_service);
    }
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
  bump(counters_.requests);
}

void Bus::route_reply(Request& r) {
  const ferry::Message& m = r.message();
  auto it = routes_.find(m.correlation);
  if (it == routes_.end() || it->second.server != r.connection()) {
    // The requester left, or a reply nobody asked this client for.
    bump(counters_.orphan_replies);
    return;
  }
  const Route route = it->second;
  auto sent = server_.send(route.requester, m.type, m.payload, route.correlation,
                           static_cast<std::uint8_t>(m.flags & kErrorReply));
  if (must_wait(sent)) {
    r.retry_later();
    return;
  }
  routes_.erase(it);
  if (sent) {
    bump(counters_.replies);
  } else {
    bump(counters_.orphan_replies);
  }
}

// ---------------------------------------------------------------------------- control

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
    // A held-back publication from it will not come round again.
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
          route.correlation, kErrorReply);
      bump(counters_.failed_requests);
      r = routes_.erase(r);
    } else {
      ++r;
    }
  }
}

}  // namespace ferryd
