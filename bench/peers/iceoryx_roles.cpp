// SPDX-License-Identifier: Apache-2.0
// bench/peers/iceoryx_roles.cpp: the server and the clients over iceoryx 2.0 (its C++ API),
// --transport iceoryx (peer_roles.hpp, docs/bench.md "Over iceoryx"). RouDi, the daemon
// every iceoryx application registers with, is iceoryx_roudi.cpp's.
//
// Every service is {"ferry-bench", <endpoint>, <event>}:
//   pingpong, stream, fanin, rate: publish/subscribe. Each client publishes on "to-server",
//     where the server has the one subscriber (N publishers, one subscriber); the server
//     answers client i on "to-client-<i>" (pingpong's echo, the end marker's
//     acknowledgement), a publisher per client.
//   reqrep: request/response, an UntypedServer on "rpc" and an UntypedClient per client.
// Zero-copy: a data message is written into a chunk loaned from the publisher and
// published; the receiver checks it in the shared chunk take() gives it, then releases it.
// Requests and replies are copied into their loaned chunk once (the harness writes them
// first, as for every transport); a reply is checked in place too.
// Nothing is dropped: publishers and servers WAIT_FOR_CONSUMER, subscribers and clients
// BLOCK_PRODUCER (iceoryx's default discards the oldest sample of a full queue). A sender
// facing a full queue waits the only way iceoryx 2.0 has, yielding the CPU in a loop,
// whatever --wait says. Queues have iceoryx's default (and largest) capacity, 256 chunks.
// --wait is how a receiver waits for its queue: block on a WaitSet attached to the port's
// "has data" state (a semaphore in shared memory, posted at every delivery); spin polls
// take(), yielding the CPU every 1024 polls as ferry's spin does; hybrid polls for 50 us
// (ferry's default spin_for), then blocks on the WaitSet.
#include <sched.h>

#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "iceoryx_hoofs/log/logmanager.hpp"
#include "iceoryx_posh/mepoo/chunk_header.hpp"
#include "iceoryx_posh/popo/rpc_header.hpp"
#include "iceoryx_posh/popo/untyped_client.hpp"
#include "iceoryx_posh/popo/untyped_publisher.hpp"
#include "iceoryx_posh/popo/untyped_server.hpp"
#include "iceoryx_posh/popo/untyped_subscriber.hpp"
#include "iceoryx_posh/popo/wait_set.hpp"
#include "iceoryx_posh/runtime/posh_runtime.hpp"
#include "peer_roles.hpp"
#include "workload/client_loop.hpp"
#include "workload/receiver.hpp"

namespace ferry::bench {

namespace {

// How long a client waits for its connection, and for a reply, before it gives up.
constexpr std::int64_t kPatienceNs = 60'000'000'000;
// A blocked receiver looks at the stop flag this often.
constexpr std::int64_t kPollMs = 100;
constexpr std::uint32_t kAlign = alignof(std::uint64_t);

iox::capro::ServiceDescription service(const Options& o, const std::string& event) {
  const auto id = [](const std::string& s) {
    return iox::capro::IdString_t(iox::cxx::TruncateToCapacity, s.c_str(), s.size());
  };
  return {id("ferry-bench"), id(o.endpoint), id(event)};
}

void init_runtime(const std::string& name) {
  iox::log::LogManager::GetLogManager().SetDefaultLogLevel(iox::log::LogLevel::kWarn,
                                                           iox::log::LogLevelOutput::kHideLogLevel);
  iox::runtime::PoshRuntime::initRuntime(
      iox::RuntimeName_t(iox::cxx::TruncateToCapacity, name.c_str(), name.size()));
}

iox::popo::PublisherOptions publisher_options() {
  iox::popo::PublisherOptions p;
  p.subscriberTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
  return p;
}

iox::popo::SubscriberOptions subscriber_options() {
  iox::popo::SubscriberOptions s;
  s.queueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
  return s;
}

template <class E>
Error iox_error(const char* what, E error) {
  return Error(Errc::system, std::string(what) + ": " + iox::popo::asStringLiteral(error));
}

// The user payload of a chunk iceoryx handed over.
std::span<const std::byte> payload_of(const void* chunk) {
  return {static_cast<const std::byte*>(chunk),
          iox::mepoo::ChunkHeader::fromUserPayload(chunk)->userPayloadSize()};
}

// How a receiver waits, the --wait way, until its port has something to take.
class Waiter {
 public:
  explicit Waiter(const Options& o) : o_(o) {}

  // Attaches the port's "has something" state to a WaitSet (not for spin, which only polls).
  template <class Port, class State>
  Result<void> attach(Port& port, State state) {
    if (o_.wait == WaitStrategy::spin) return {};
    waitset_.emplace();
    if (auto r = waitset_->attachState(port, state); r.has_error()) {
      return Error(Errc::system, "attaching to a WaitSet failed");
    }
    return {};
  }

  // One round: returns once `ready()` (a poll of the port) says so, or after a while, so
  // that the caller looks at its flags and tries again.
  template <class Ready>
  void wait(Ready ready) {
    const WaitOptions w;
    if (o_.wait != WaitStrategy::block) {
      const std::int64_t start = tools::now_ns();
      for (std::uint32_t polls = 1;; ++polls) {
        if (ready()) return;
        if (polls % w.yield_every == 0) {
          ::sched_yield();
          if (o_.wait == WaitStrategy::spin) return;
        }
        if (o_.wait == WaitStrategy::hybrid && polls % 64 == 0 &&
            tools::now_ns() - start >= w.spin_for.count()) {
          break;
        }
      }
    }
    waitset_->timedWait(iox::units::Duration::fromMilliseconds(kPollMs));
  }

 private:
  const Options& o_;
  std::optional<iox::popo::WaitSet<1>> waitset_;
};

// The next chunk take() gives; nullptr when it said `none` (nothing queued), after the waiter
// waited a round for has() to say there is; an error for anything else take() says.
template <class Take, class Has, class None>
Result<const void*> take_or_wait(Waiter& waiter, Take take, Has has, None none) {
  auto taken = take();
  if (!taken.has_error()) return taken.value();
  if (taken.get_error() != none) return iox_error("take", taken.get_error());
  waiter.wait(has);
  return nullptr;
}

// Waits (polling every millisecond) until `connected()`; false after kPatienceNs.
template <class Connected>
bool wait_connected(Connected connected) {
  const std::int64_t until = tools::now_ns() + kPatienceNs;
  while (!connected()) {
    if (tools::now_ns() > until || stop_requested()) return false;
    const timespec ms{0, 1'000'000};
    ::nanosleep(&ms, nullptr);
  }
  return true;
}

Result<void> publish_copy(iox::popo::UntypedPublisher& pub, std::span<const std::byte> bytes) {
  auto chunk = pub.loan(static_cast<std::uint32_t>(bytes.size()), kAlign);
  if (chunk.has_error()) return iox_error("loan", chunk.get_error());
  std::memcpy(chunk.value(), bytes.data(), bytes.size());
  pub.publish(chunk.value());
  return {};
}

// How a client of the publish/subscribe scenarios sends and is answered: a publisher to the
// server, a subscriber for the server's replies.
class TopicLink {
 public:
  explicit TopicLink(const Options& o)
      : size_(o.size),
        pub_(service(o, "to-server"), publisher_options()),
        sub_(service(o, "to-client-" + std::to_string(o.id)), subscriber_options()) {}

  Result<void> attach(Waiter& waiter) {
    return waiter.attach(sub_, iox::popo::SubscriberState::HAS_DATA);
  }
  bool connected() const {
    return pub_.hasSubscribers() && sub_.getSubscriptionState() == iox::SubscribeState::SUBSCRIBED;
  }
  Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns) {
    auto chunk = pub_.loan(static_cast<std::uint32_t>(size_), kAlign);
    if (chunk.has_error()) return iox_error("loan", chunk.get_error());
    fill_payload({static_cast<std::byte*>(chunk.value()), size_}, producer, seq, stamp_ns);
    pub_.publish(chunk.value());
    return {};
  }
  Result<void> send_copy(std::span<const std::byte> bytes) { return publish_copy(pub_, bytes); }
  auto take() { return sub_.take(); }
  bool has() const { return sub_.hasData(); }
  void release(const void* chunk) { sub_.release(chunk); }

 private:
  std::size_t size_;
  iox::popo::UntypedPublisher pub_;
  iox::popo::UntypedSubscriber sub_;
};

// How a client of reqrep sends and is answered: request/response.
class RpcLink {
 public:
  explicit RpcLink(const Options& o) : client_(service(o, "rpc"), options()) {}

  Result<void> attach(Waiter& waiter) {
    return waiter.attach(client_, iox::popo::ClientState::HAS_RESPONSE);
  }
  bool connected() const { return client_.getConnectionState() == iox::ConnectionState::CONNECTED; }
  // (reqrep only requests.)
  static Result<void> send(std::uint32_t /*producer*/, std::uint64_t /*seq*/,
                           std::uint64_t /*stamp*/) {
    return Error(Errc::invalid_argument, "request/response carries requests only");
  }
  Result<void> send_copy(std::span<const std::byte> bytes) {
    auto chunk = client_.loan(static_cast<std::uint32_t>(bytes.size()), kAlign);
    if (chunk.has_error()) return iox_error("loan", chunk.get_error());
    std::memcpy(chunk.value(), bytes.data(), bytes.size());
    if (auto sent = client_.send(chunk.value()); sent.has_error()) {
      return iox_error("send", sent.get_error());
    }
    return {};
  }
  auto take() { return client_.take(); }
  bool has() const { return client_.hasResponses(); }
  void release(const void* chunk) { client_.releaseResponse(chunk); }

 private:
  static iox::popo::ClientOptions options() {
    iox::popo::ClientOptions c;
    c.responseQueueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
    c.serverTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
    return c;
  }

  iox::popo::UntypedClient client_;
};

// A client (client_loop.hpp's connection) over either link.
template <class Link>
class IoxConn {
 public:
  explicit IoxConn(const Options& o) : link_(o), waiter_(o) {}
  IoxConn(const IoxConn&) = delete;
  IoxConn& operator=(const IoxConn&) = delete;
  ~IoxConn() { release(); }

  Result<void> open() {
    if (auto r = link_.attach(waiter_); !r) return r;
    if (!wait_connected([this] { return link_.connected(); })) {
      return Error(Errc::timed_out, "the client was not connected to the server's ports");
    }
    return {};
  }

  Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns) {
    return link_.send(producer, seq, stamp_ns);
  }

  Result<std::span<const std::byte>> request(std::span<const std::byte> payload) {
    release();
    if (auto r = link_.send_copy(payload); !r) return r.error();
    const std::int64_t until = tools::now_ns() + kPatienceNs;
    for (;;) {
      auto taken = take_or_wait(
          waiter_, [this] { return link_.take(); }, [this] { return link_.has(); },
          iox::popo::ChunkReceiveResult::NO_CHUNK_AVAILABLE);
      if (!taken) return taken.error();
      if (*taken != nullptr) {
        held_ = *taken;
        return payload_of(held_);
      }
      if (tools::now_ns() > until) {
        return Error(Errc::timed_out, "no reply from the server in 60 s");
      }
    }
  }

  Result<void> finish(std::uint32_t producer, std::uint64_t next_seq) {
    auto ack = request(encode_end(producer, next_seq));
    if (!ack) return ack.error();
    return {};
  }

 private:
  void release() {
    if (held_ != nullptr) link_.release(held_);
    held_ = nullptr;
  }

  Link link_;
  Waiter waiter_;
  const void* held_ = nullptr;  // the last reply, released at the next request
};

// pingpong, stream, fanin, rate: one subscriber, and a publisher back to each client.
Result<void> serve_topics(const Options& o, Receiver& rx, const std::function<void()>& ready) {
  iox::popo::UntypedSubscriber sub(service(o, "to-server"), subscriber_options());
  std::vector<std::unique_ptr<iox::popo::UntypedPublisher>> back;
  for (std::uint32_t i = 0; i < o.clients; ++i) {
    back.push_back(std::make_unique<iox::popo::UntypedPublisher>(
        service(o, "to-client-" + std::to_string(i)), publisher_options()));
  }
  Waiter waiter(o);
  if (auto r = waiter.attach(sub, iox::popo::SubscriberState::HAS_DATA); !r) return r;
  ready();
  while (!rx.finished() && !stop_requested()) {
    auto taken = take_or_wait(
        waiter, [&sub] { return sub.take(); }, [&sub] { return sub.hasData(); },
        iox::popo::ChunkReceiveResult::NO_CHUNK_AVAILABLE);
    if (!taken) return taken.error();
    if (*taken == nullptr) continue;
    const std::int64_t now = tools::now_ns();
    const std::span<const std::byte> payload = payload_of(*taken);
    Result<void> answered;
    if (payload.size() == kEndBytes) {
      rx.on_end(payload);
      const auto end = decode_end(payload);
      if (end && end->producer < o.clients) {
        answered = publish_copy(*back[end->producer], payload);  // the acknowledgement
      } else {
        rx.count_error();
      }
    } else if (o.request_reply()) {
      answered = publish_copy(*back[0], rx.on_request(payload));  // pingpong: one client
      if (answered) rx.accept();
    } else {
      rx.on_data(payload, now);
    }
    sub.release(*taken);
    if (!answered) return answered.error();
  }
  return {};
}

// reqrep: one server.
Result<void> serve_requests(const Options& o, Receiver& rx, const std::function<void()>& ready) {
  iox::popo::ServerOptions options;
  options.requestQueueFullPolicy = iox::popo::QueueFullPolicy::BLOCK_PRODUCER;
  options.clientTooSlowPolicy = iox::popo::ConsumerTooSlowPolicy::WAIT_FOR_CONSUMER;
  iox::popo::UntypedServer server(service(o, "rpc"), options);
  Waiter waiter(o);
  if (auto r = waiter.attach(server, iox::popo::ServerState::HAS_REQUEST); !r) return r;
  ready();
  while (!rx.finished() && !stop_requested()) {
    auto taken = take_or_wait(
        waiter, [&server] { return server.take(); }, [&server] { return server.hasRequests(); },
        iox::popo::ServerRequestResult::NO_PENDING_REQUESTS);
    if (!taken) return taken.error();
    if (*taken == nullptr) continue;
    const std::span<const std::byte> payload = payload_of(*taken);
    const bool end = payload.size() == kEndBytes;
    if (end) rx.on_end(payload);
    const std::span<const std::byte> reply = end ? payload : rx.on_request(payload);
    auto chunk = server.loan(iox::popo::RequestHeader::fromPayload(*taken),
                             static_cast<std::uint32_t>(reply.size()), kAlign);
    if (chunk.has_error()) return iox_error("loan", chunk.get_error());
    std::memcpy(chunk.value(), reply.data(), reply.size());
    server.releaseRequest(*taken);
    if (auto sent = server.send(chunk.value()); sent.has_error()) {
      return iox_error("send", sent.get_error());
    }
    if (!end) rx.accept();
  }
  return {};
}

int run_server(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-server");
  install_stop_handlers();
  init_runtime("ferry-bench-server");
  Receiver rx(o, ctx.state());
  const auto ready = [&ctx] { ctx.say("ready"); };
  auto served =
      o.scenario == Scenario::reqrep ? serve_requests(o, rx, ready) : serve_topics(o, rx, ready);
  if (!served) return ctx.fail(served.error());
  ctx.say(rx.report().encode());
  return 0;
}

template <class Conn>
int connect_and_run(RoleContext& ctx) {
  Conn conn(ctx.options());
  if (auto r = conn.open(); !r) return ctx.fail(r.error());
  ctx.say("ready");
  return run_client(ctx, conn);
}

}  // namespace

int run_iceoryx_role(RoleContext& ctx) {
  const Options& o = ctx.options();
  if (o.role == Role::server) return run_server(ctx);
  if (o.role != Role::client) {
    return ctx.fail(Error(Errc::invalid_argument, "iceoryx has no such participant"));
  }
  set_process_name("bench-client");
  init_runtime("ferry-bench-client-" + std::to_string(o.id));
  return o.scenario == Scenario::reqrep ? connect_and_run<IoxConn<RpcLink>>(ctx)
                                        : connect_and_run<IoxConn<TopicLink>>(ctx);
}

}  // namespace ferry::bench
