// SPDX-License-Identifier: Apache-2.0
// bench/workload/ferry_roles.cpp: the participants over ferry (roles.hpp).
//
// The server is a ferry::Server with --wait; clients are ferry::Clients with --wait.
// Data messages (stream, fanin, rate, fanout) are written in place with reserve()/commit();
// pingpong and reqrep use request() and Request::reply(); each client's end marker is a
// request too, so the client knows the server has seen everything before it leaves.
// fanout: the server runs ferryd's bus (tools/ferryd/bus.hpp, the routing ferryd runs), the
// clients subscribe, and the publisher publishes its data and then its end marker.
// bus (ferry-demo): no server of ours, a running ferryd; publishers publish as in fanout to
// the subscribers, requesters send requests that the bus routes to the responders.
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/stat.hpp"
#include "ferryd/bus.hpp"
#include "workload/client_loop.hpp"
#include "workload/receiver.hpp"
#include "workload/roles.hpp"

namespace ferry::bench {

namespace {

constexpr std::uint16_t kDataType = 1;
constexpr std::uint16_t kEndType = 2;
// Long enough for any backpressure or starved scheduler; a dead peer ends waits at once.
constexpr std::chrono::seconds kPatience{60};
// After the last end marker, the server waits at most this long for the clients to leave.
constexpr std::int64_t kLingerNs = 5'000'000'000;

WaitOptions wait_options(const Options& o) {
  WaitOptions w;
  w.strategy = o.wait;
  return w;
}

ClientOptions client_options(const Options& o, std::string name) {
  ClientOptions c;
  c.endpoint = o.endpoint;
  c.session = o.session;
  c.name = std::move(name);
  c.wait = wait_options(o);
  c.send_timeout = kPatience;
  return c;
}

class FerryConn {
 public:
  FerryConn(Client client, const Options& o)
      : client_(std::move(client)),
        size_(o.size),
        // A publisher's end marker travels behind its data, a bus requester has none.
        finish_(o.role == Role::publisher   ? Finish::publish
                : o.role == Role::requester ? Finish::none
                                            : Finish::request),
        patience_(o.scenario == Scenario::bus ? std::chrono::nanoseconds(kBusRequestTimeoutNs)
                                              : kPatience) {}

  Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns,
                    Publish publish = Publish::now) {
    auto room = client_.reserve(size_);
    if (!room) return room.error();
    fill_payload(*room, producer, seq, stamp_ns);
    client_.commit(size_, kDataType, publish);
    return {};
  }

  Result<std::span<const std::byte>> request(std::span<const std::byte> payload) {
    auto reply = client_.request(kDataType, payload, patience_);
    if (!reply) return reply.error();
    reply_ = std::move(*reply);
    return std::span<const std::byte>(reply_.payload);
  }

  Result<void> finish(std::uint32_t producer, std::uint64_t next_seq) {
    const auto end = encode_end(producer, next_seq);
    switch (finish_) {
      case Finish::none: return {};
      // Published behind the data: the bus keeps a publisher's order for every subscriber.
      case Finish::publish: return client_.send(kDataType, end);
      case Finish::request: break;
    }
    auto ack = client_.request(kEndType, end, kPatience);
    if (!ack) return ack.error();
    return {};
  }

 private:
  enum class Finish : std::uint8_t { request, publish, none };
  Client client_;
  std::size_t size_;
  Finish finish_;
  std::chrono::nanoseconds patience_;
  Reply reply_;
};

// Every wake-up system call of the run, both ways, as this process's endpoint counted them in
// its rings (live connections and closed ones); nothing when they cannot be read.
std::optional<std::uint64_t> wake_syscalls(const std::string& endpoint) {
  auto stat = read_process_stat(0);
  if (!stat) return std::nullopt;
  for (const EndpointStat& e : *stat) {
    if (e.endpoint == endpoint) {
      return e.in.producer_wakes + e.in.consumer_wakes + e.out.producer_wakes +
             e.out.consumer_wakes;
    }
  }
  return std::nullopt;
}

// fanout's server: ferryd's bus until the publisher and every subscriber have come and
// gone. A full subscriber holds the publisher back (backpressure) as long as the bench
// waits for anything, not ferryd's default second before dropping: a drop is a loss here.
int run_bus(RoleContext& ctx, Server& server) {
  const Options& o = ctx.options();
  ferryd::BusOptions options;
  options.slow_subscriber_timeout = kPatience;
  ferryd::Bus bus(server, options);
  ctx.say("ready");
  const std::uint64_t everyone = std::uint64_t{o.clients} + 1 + o.idle;
  while (!stop_requested()) {
    if (auto r = server.run_once(bus.next_tick(std::chrono::milliseconds(100))); !r) {
      return ctx.fail(r.error());
    }
    const ServerStats st = server.stats();
    if (st.accepted >= everyone && st.active <= o.idle) break;
  }
  Report report;
  report.msgs = bus.stats().deliveries;  // the subscribers measure; this is the bus's count
  report.errors.lost = bus.stats().dropped;
  report.errors.corrupt = server.stats().protocol_errors;
  report.wakes = wake_syscalls(o.endpoint);
  ctx.say(report.encode());
  return 0;
}

// A fanout or bus subscriber: checks every delivery until every publisher's end marker
// (on the bus, until kBusDrainNs after the end at most).
int run_subscriber(RoleContext& ctx, Client& client) {
  const Options& o = ctx.options();
  if (auto r = client.subscribe(kDataType); !r) return ctx.fail(r.error());
  Receiver rx(o, ctx.state(), 1 + o.id);
  ctx.say("ready");
  const Timetable t = timetable(o, ctx.wait_for_go());
  const Client::Handler handler = [&rx](const Message& m) {
    if (m.payload.size() == kEndBytes) {
      rx.on_end(m.payload);
    } else {
      rx.on_data(m.payload, tools::now_ns());
    }
  };
  while (!rx.finished()) {
    if (o.scenario == Scenario::bus && tools::now_ns() > t.end + kBusDrainNs) {
      return ctx.fail(Error(Errc::timed_out, "only " + std::to_string(rx.ended()) + " of " +
                                                 std::to_string(o.producers()) +
                                                 " publishers' end markers arrived within " +
                                                 std::to_string(kBusDrainNs / 1'000'000'000) +
                                                 " s of the end"));
    }
    if (auto n = client.wait(handler, std::chrono::milliseconds(100)); !n) {
      return ctx.fail(n.error());
    }
  }
  ctx.say(rx.report().encode());
  return 0;
}

// A bus responder: answers the requests the bus routes to it until the orchestrator closes
// its go pipe (after the requesters are done).
int run_responder(RoleContext& ctx, Client& client) {
  const Options& o = ctx.options();
  if (auto r = client.serve(kDataType); !r) return ctx.fail(r.error());
  Receiver rx(o, ctx.state(), kNoSlot);
  ctx.say("ready");
  std::optional<Error> failure;
  const Client::Handler handler = [&](const Message& m) {
    if (!m.is_request() || failure) return;
    if (auto sent = client.reply(m, rx.on_request(m.payload)); !sent) {
      failure = sent.error();
      return;
    }
    rx.accept();
  };
  pollfd hold{o.go_fd, POLLIN, 0};
  while (::poll(&hold, 1, 0) == 0) {  // end of file (or an error) ends the run
    if (auto n = client.wait(handler, std::chrono::milliseconds(20)); !n) {
      return ctx.fail(n.error());
    }
    if (failure) return ctx.fail(*failure);
  }
  ctx.say(rx.report().encode());
  return 0;
}

}  // namespace

int run_ferry_server(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-server");
  install_stop_handlers();
  ServerOptions so;
  so.endpoint = o.endpoint;
  so.session = o.session;
  so.wait = wait_options(o);
  so.max_connections = std::max<std::uint32_t>(so.max_connections, o.clients + o.idle + 16);
  so.handler_histogram = o.metrics;
  so.payload_copy = o.copy ? PayloadCopy::always : PayloadCopy::never;
  auto created = Server::create(so);
  if (!created) return ctx.fail(created.error());
  Server& server = *created;
  if (o.scenario == Scenario::fanout) return run_bus(ctx, server);
  // --metrics on: what ferryd's exporter does at a scrape, ten times a second.
  std::jthread scraper;
  if (o.metrics) {
    scraper = std::jthread([&server](const std::stop_token& stop) {
      while (!stop.stop_requested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        auto seen = read_process_stat(0);
        const LatencyHistogram h = server.handler_latency();
        if (!seen || seen->empty() || h.count > seen->front().server.messages_in + 1) {
          std::fprintf(stderr, "bench-server: a metrics read failed\n");
        }
      }
    });
  }

  Receiver rx(o, ctx.state());
  std::uint32_t left = 0;  // connections closed since the start
  server.on(kDataType, [&](Request& r) {
    if (!o.request_reply()) {
      rx.on_data(r.payload(), tools::now_ns());
      return;
    }
    const auto reply = rx.on_request(r.payload());
    if (auto sent = r.reply(reply); !sent) {
      if (sent.code() == Errc::would_block) {
        r.retry_later();  // the client's ring is full: the same request comes again
        return;
      }
      rx.count_error();
    }
    rx.accept();
  });
  server.on(kEndType, [&](Request& r) {
    if (auto sent = r.reply({}); !sent && sent.code() == Errc::would_block) {
      r.retry_later();
      return;
    }
    rx.on_end(r.payload());
  });
  server.on_default([&](Request&) { rx.count_error(); });
  server.on_disconnect([&](const ConnectionInfo&, DisconnectReason reason) {
    ++left;
    if (reason == DisconnectReason::protocol_error) rx.count_error();
  });
  ctx.say("ready");

  std::int64_t finished_at = 0;
  while (!stop_requested()) {
    if (auto r = server.run_once(std::chrono::milliseconds(100)); !r) return ctx.fail(r.error());
    if (!rx.finished()) continue;
    // Every producer has ended: let them leave first, so none sees the server vanish.
    const std::int64_t now = tools::now_ns();
    if (finished_at == 0) finished_at = now;
    if (left >= o.clients || now - finished_at > kLingerNs) break;
  }
  Report report = rx.report();
  report.wakes = wake_syscalls(o.endpoint);
  ctx.say(report.encode());
  return 0;
}

int run_ferry_client(RoleContext& ctx) {
  const Options& o = ctx.options();
  const std::string role(to_string(o.role));
  set_process_name(("bench-" + role).c_str());
  auto client = Client::connect(client_options(o, "bench-" + role + "-" + std::to_string(o.id)));
  if (!client) return ctx.fail(client.error());
  if (o.role == Role::responder) return run_responder(ctx, *client);
  if (o.role == Role::subscriber || (o.scenario == Scenario::fanout && o.role == Role::client)) {
    return run_subscriber(ctx, *client);
  }
  FerryConn conn(std::move(*client), o);
  ctx.say("ready");
  return run_client(ctx, conn);
}

int run_ferry_idle(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-idle");
  std::vector<Client> idle;
  idle.reserve(o.idle);
  for (std::uint32_t i = 0; i < o.idle; ++i) {
    auto client = Client::connect(client_options(o, "bench-idle"));
    if (!client) return ctx.fail(client.error());
    idle.push_back(std::move(*client));
  }
  ctx.say("ready");
  ctx.wait_for_go();  // the orchestrator closes our pipe when the run is over
  ctx.say(Report{}.encode());
  return 0;
}

}  // namespace ferry::bench
