// SPDX-License-Identifier: Apache-2.0
// ferryd's bus (bus.hpp).
#include "ferryd/bus.hpp"

#include <algorithm>
#include <string>

#include "common/clock.hpp"
#include "ferry/wire.hpp"

namespace ferry::ferryd {

using ferry::ConnectionId;
using ferry::Errc;
using ferry::Request;
using ferry::tools::now_ns;

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

std::int64_t to_ns(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

std::span<const std::byte> bytes(const std::string& text) {
  return std::as_bytes(std::span<const char>(text.data(), text.size()));
}

constexpr std::uint8_t kErrorReply = ferry::wire::kFlagReply | ferry::wire::kFlagError;
// Deadlines of answered requests kept beyond twice the live ones before compacting.
constexpr std::size_t kDeadlineSlack = 1024;

}  // namespace

Bus::Bus(ferry::Server& server, BusOptions options) : server_(server), options_(options) {
  for (std::size_t i = 0; i < kBusCounters; ++i) {
    // Fails only when the application took every slot: then the count stays here.
    auto published = server_.publish_metric(kBusSeries[i].series);
    counters_[i] = published ? *published : &unpublished_[i];
  }
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
  const auto get = [this](BusCounter c) {
    return counters_[static_cast<std::size_t>(c)]->load(std::memory_order_relaxed);
  };
  BusStats s;
  s.published = get(BusCounter::published);
  s.deliveries = get(BusCounter::deliveries);
  s.dropped = get(BusCounter::dropped);
  s.slow_dropped_for = get(BusCounter::slow_dropped_for);
  s.slow_disconnected = get(BusCounter::slow_disconnected);
  s.requests = get(BusCounter::requests);
  s.replies = get(BusCounter::replies);
  s.no_service = get(BusCounter::no_service);
  s.refused = get(BusCounter::refused);
  s.expired = get(BusCounter::expired);
  s.orphan_replies = get(BusCounter::orphan_replies);
  s.failed_requests = get(BusCounter::failed_requests);
  s.errors_held = get(BusCounter::errors_held);
  s.routes = get(BusCounter::routes);
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
    bump(BusCounter::published);
    return;
  }
  Peer& publisher = peers_[r.connection()];
  std::vector<ConnectionId>& delivered = publisher.delivered;
  // Copied once for several subscribers: each delivery then costs a copy and the CRC of a
  // header, and all of them carry the same bytes even if the publisher's memory changes.
  const bool fan_out = it->second.size() > 1;
  if (fan_out) fanout_.assign(m.payload);
  // A publication sent again after a ferryd died stays marked for its subscribers.
  const auto flags = static_cast<std::uint8_t>(m.flags & ferry::wire::kFlagResent);
  for (ConnectionId to : it->second) {
    if (to == r.connection() && publisher.no_echo) continue;
    if (std::find(delivered.begin(), delivered.end(), to) != delivered.end()) continue;
    auto sent = fan_out ? server_.send(to, m.type, fanout_, 0, flags)
                        : server_.send(to, m.type, m.payload, 0, flags);
    if (must_wait(sent)) {
      // Held in the publisher's ring, the ones reached so far are remembered so that nobody
      // gets it twice when it comes round again; or it goes on without this subscriber.
      if (!on_full_subscriber(r, publisher, to)) return;
    } else if (sent) {
      bump(BusCounter::deliveries);
      on_delivered(to);
    }
    delivered.push_back(to);
  }
  delivered.clear();
  publisher.held_since_ns = 0;
  bump(BusCounter::published);
}

bool Bus::on_full_subscriber(Request& r, Peer& publisher, ConnectionId to) {
  Peer& subscriber = peers_[to];
  const std::int64_t now = now_ns();
  if (subscriber.lagging) {  // dropped for already: it holds nobody back
    bump(BusCounter::dropped);
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
    bump(BusCounter::slow_disconnected);
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
  bump(BusCounter::dropped);
  bump(BusCounter::slow_dropped_for);
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

ConnectionId Bus::pick_server(std::uint16_t type) {
  std::vector<ConnectionId>& list = servers_[type];
  std::size_t& next = next_server_[type];
  for (std::size_t i = 0; i < list.size(); ++i) {
    const ConnectionId candidate = list[(next + i) % list.size()];
    if (peers_[candidate].outstanding < options_.max_outstanding_requests) {
      next += i;
      return candidate;
    }
  }
  return 0;
}

void Bus::forward_request(Request& r) {
  const ferry::Message& m = r.message();
  if (!owed_.empty()) {
    // Its error replies still waiting for room go first; until they are out, so does this.
    auto self = peers_.find(r.connection());
    if (self != peers_.end() && !flush_errors(r.connection(), self->second)) {
      r.retry_later();
      return;
    }
  }
  auto it = servers_.find(m.type);
  if (it == servers_.end() || it->second.empty()) {
    auto ok = r.reply_error("no client serves " + type_name(m.type) + " on this bus");
    if (must_wait(ok)) {
      r.retry_later();
    } else {
      bump(BusCounter::no_service);
    }
    return;
  }
  const ConnectionId to = pick_server(m.type);
  if (to == 0) {  // every one at the limit
    const std::vector<ConnectionId>& list = it->second;
    const std::uint32_t n = options_.max_outstanding_requests;
    const std::string limit =
        std::to_string(n) + (n == 1 ? " unanswered request" : " unanswered requests");
    std::string text = "refused: ";
    if (list.size() == 1) {
      text += describe(list[0]) + ", the client serving " + type_name(m.type) + ", already has " +
              limit;
    } else {
      text += "all " + std::to_string(list.size()) + " clients serving " + type_name(m.type) +
              " (" + describe(list[0]) + ", ...) already have " + limit + " each";
    }
    text += " (ferryd's max_outstanding_requests); try again later";
    auto ok = r.reply_error(text);
    if (must_wait(ok)) {
      r.retry_later();
      return;
    }
    bump(BusCounter::refused);
    for (ConnectionId s : list) {
      Peer& p = peers_[s];
      if (p.refusing) continue;
      p.refusing = true;  // until it is below the limit again
      emit("requests_refused", true,
           describe(s) + " has " + limit +
               " (max_outstanding_requests): refusing more until it answers or they expire",
           s, m.type, p.outstanding);
    }
    return;
  }
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
  ++next_server_[m.type];
  const std::int64_t deadline = now_ns() + to_ns(options_.request_timeout);
  routes_[correlation] = Route{to, r.connection(), m.correlation, m.type, deadline};
  deadlines_.push_back(Deadline{deadline, correlation});
  ++peers_[to].outstanding;
  set(BusCounter::routes, routes_.size());
  bump(BusCounter::requests);
}

void Bus::route_reply(Request& r) {
  const ferry::Message& m = r.message();
  auto it = routes_.find(m.correlation);
  if (it == routes_.end() || it->second.server != r.connection()) {
    // The requester left, the request expired, or a reply nobody asked this client for.
    bump(BusCounter::orphan_replies);
    return;
  }
  const Route route = it->second;
  Peer& serving = peers_[r.connection()];
  auto sent = server_.send(route.requester, m.type, m.payload, route.correlation,
                           static_cast<std::uint8_t>(m.flags & kErrorReply));
  // A requester that does not read its replies is a slow subscriber of them: the reply, and
  // with it the serving client's ring, waits for room at most the slow-subscriber timeout.
  if (must_wait(sent) && !on_full_subscriber(r, serving, route.requester)) return;
  serving.held_since_ns = 0;
  routes_.erase(it);
  end_route(route);
  if (must_wait(sent)) return;  // dropped (counted) or its requester disconnected
  if (sent) {
    bump(BusCounter::replies);
    on_delivered(route.requester);
  } else {
    bump(BusCounter::orphan_replies);
  }
}

void Bus::end_route(const Route& route) {
  set(BusCounter::routes, routes_.size());
  if (auto p = peers_.find(route.server); p != peers_.end()) {
    Peer& server = p->second;
    if (server.outstanding > 0) --server.outstanding;
    if (server.outstanding < options_.max_outstanding_requests) server.refusing = false;
  }
  // The deadlines of answered requests: all of them when none is left, else now and then.
  if (routes_.empty()) {
    deadlines_.clear();
  } else if (deadlines_.size() > 2 * routes_.size() + kDeadlineSlack) {
    std::erase_if(deadlines_, [this](const Deadline& d) {
      auto it = routes_.find(d.correlation);
      return it == routes_.end() || it->second.deadline_ns != d.at_ns;
    });
  }
}

void Bus::send_error(ConnectionId requester, std::uint16_t type, std::uint32_t correlation,
                     std::string text) {
  auto it = peers_.find(requester);
  if (it == peers_.end() || it->second.held_errors.empty()) {
    auto sent = server_.send(requester, type, bytes(text), correlation, kErrorReply);
    if (!must_wait(sent)) return;  // sent, or the requester is gone
  }
  Peer& peer = peers_[requester];
  if (peer.held_errors.empty()) owed_.push_back(requester);
  peer.held_errors.push_back(HeldError{type, correlation, std::move(text)});
  bump(BusCounter::errors_held);
}

bool Bus::flush_errors(ConnectionId requester, Peer& peer) {
  while (!peer.held_errors.empty()) {
    const HeldError& e = peer.held_errors.front();
    auto sent = server_.send(requester, e.type, bytes(e.text), e.correlation, kErrorReply);
    if (must_wait(sent)) return false;
    peer.held_errors.pop_front();
  }
  return true;
}

void Bus::expire(std::int64_t now) {
  const std::string within = " within " + std::to_string(options_.request_timeout.count()) + " ms";
  // One log line per serving client and turn: its first expired request and how many.
  struct Expired {
    Route first;
    std::uint64_t count = 0;
  };
  std::vector<Expired> expired;
  while (!deadlines_.empty()) {
    const Deadline d = deadlines_.front();
    auto it = routes_.find(d.correlation);
    const bool live = it != routes_.end() && it->second.deadline_ns == d.at_ns;
    if (live && d.at_ns > now) break;
    deadlines_.pop_front();
    if (!live) continue;  // answered
    const Route route = it->second;
    routes_.erase(it);
    bump(BusCounter::expired);
    auto same = std::find_if(expired.begin(), expired.end(),
                             [&](const Expired& e) { return e.first.server == route.server; });
    if (same == expired.end()) same = expired.insert(expired.end(), Expired{route, 0});
    ++same->count;
    send_error(route.requester, route.type, route.correlation,
               "no reply from " + describe(route.server) + " to " + type_name(route.type) + within +
                   " (ferryd's request_timeout_ms)");
    end_route(route);
  }
  for (const Expired& e : expired) {
    std::string msg = "no reply from " + describe(e.first.server) + " to ";
    if (e.count == 1) {
      msg += type_name(e.first.type);
      msg += within;
      msg += "; its requester " + describe(e.first.requester) + " got an error reply";
    } else {
      msg += std::to_string(e.count) + " requests (the first of " + type_name(e.first.type) + ")";
      msg += within;
      msg += "; their requesters got error replies";
    }
    emit("request_expired", true, std::move(msg), e.first.server, e.first.type, e.count);
  }
}

void Bus::tick() {
  if (deadlines_.empty() && owed_.empty()) return;
  expire(now_ns());
  std::erase_if(owed_, [this](ConnectionId id) {
    auto it = peers_.find(id);
    return it == peers_.end() || flush_errors(id, it->second);
  });
}

std::chrono::nanoseconds Bus::next_tick(std::chrono::nanoseconds idle) const {
  if (deadlines_.empty()) return idle;
  const std::chrono::nanoseconds floor = kTickGranularity;
  const std::chrono::nanoseconds left(deadlines_.front().at_ns - now_ns());
  return std::clamp(left, floor, std::max(idle, floor));
}

// ---------------------------------------------------------------------------- control

void Bus::on_control(Request& r) {
  const ferry::Message& m = r.message();
  const bool flagged = m.type == ferry::bus::kSubscribe && m.payload.size() == 3;
  if (!m.is_request() || (m.payload.size() != 2 && !flagged)) {
    if (m.is_request()) {
      auto ok = r.reply_error(
          "a bus control request carries one 2-byte message type (a subscribe: and a flags byte)");
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
  if (flagged &&
      (std::to_integer<unsigned>(m.payload[2]) & ~unsigned{ferry::bus::kSubscribeNoEcho}) != 0) {
    auto ok = r.reply_error("unknown subscribe flags " +
                            std::to_string(std::to_integer<unsigned>(m.payload[2])) +
                            " (this ferryd knows 1, no echo)");
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
    case ferry::bus::kSubscribe:
      add(subscribers_[type], peer.subscribed);
      peer.no_echo =
          flagged && (std::to_integer<unsigned>(m.payload[2]) & ferry::bus::kSubscribeNoEcho) != 0;
      break;
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
    // A held-back publication from it will not come round again, and error replies held
    // for it have nobody to go to.
    peers_.erase(it);
  }
  for (auto r = routes_.begin(); r != routes_.end();) {
    const Route route = r->second;
    if (route.requester != info.id && route.server != info.id) {
      ++r;
      continue;
    }
    r = routes_.erase(r);
    end_route(route);
    if (route.server == info.id && route.requester != info.id) {
      // The request can never be answered: tell the requester now rather than let it time out.
      send_error(route.requester, route.type, route.correlation,
                 "the client serving " + type_name(route.type) + " disconnected before replying");
      bump(BusCounter::failed_requests);
    }
    // (Its own requests: their replies, if they come, are dropped.)
  }
}

}  // namespace ferry::ferryd
