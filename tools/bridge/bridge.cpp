// SPDX-License-Identifier: Apache-2.0
// tools/bridge/bridge.cpp: ferry-bridge's runtime (bridge.hpp).
#include "bridge/bridge.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bridge/dedupe.hpp"
#include "bridge/metrics.hpp"
#include "bridge/nats.hpp"
#include "common/service_notify.hpp"
#include "common/traceparent.hpp"
#include "ferry/client.hpp"
#include "ferry/session.hpp"

namespace ferry::bridge {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using tools::LogLevel;

constexpr milliseconds kTick{50};
constexpr std::size_t kQueuedEvents = 8192;  // from the NATS threads, before they wait
constexpr std::size_t kPollBatch = 256;      // bus messages per turn of the loop
constexpr milliseconds kBusSendTimeout{1'000};
constexpr milliseconds kForgetOrigin{600'000};  // an origin silent this long is forgotten

// The headers a bridge writes (docs/bridge.md, "On the wire").
constexpr const char* kType = "Ferry-Type";
constexpr const char* kFlags = "Ferry-Flags";
constexpr const char* kOrigin = "Ferry-Origin";
constexpr const char* kSeq = "Ferry-Seq";
constexpr const char* kError = "Ferry-Error";
constexpr const char* kTrace = "traceparent";
constexpr const char* kMsgId = "Nats-Msg-Id";  // JetStream drops a second one in its window

constexpr std::int64_t kNanosPerMs = 1'000'000;
// How long a JetStream publication waits for its acknowledgement before it counts as not
// taken and is sent again (its Nats-Msg-Id keeps it once in the stream). Without a limit, a
// publication sent to a node that then dies is never answered, and never sent again.
constexpr std::int64_t kPublishAckWaitMs = 2'000;

std::span<const std::byte> bytes_of(natsMsg* m) {
  return {reinterpret_cast<const std::byte*>(natsMsg_GetData(m)),  // NOLINT
          static_cast<std::size_t>(natsMsg_GetDataLength(m))};
}

std::string_view text_of(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};  // NOLINT
}

template <class T>
std::optional<T> number(std::string_view s) {
  T v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// What the library's callbacks push; `closure` of every callback.
struct CallbackTarget {
  EventQueue* queue;
  std::size_t sub;
};

void on_nats_message(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsMsg* msg,
                     void* closure) {
  const auto* t = static_cast<CallbackTarget*>(closure);
  NatsEvent e;
  e.kind = NatsEvent::Kind::message;
  e.sub = t->sub;
  e.msg.reset(msg);
  t->queue->push(std::move(e));
}

void push_event(void* closure, NatsEvent::Kind kind, std::string text = {}) {
  NatsEvent e;
  e.kind = kind;
  e.text = std::move(text);
  static_cast<EventQueue*>(closure)->push(std::move(e));
}

void on_disconnected(natsConnection* /*nc*/, void* closure) {
  push_event(closure, NatsEvent::Kind::disconnected);
}
void on_reconnected(natsConnection* nc, void* closure) {
  char url[256] = {};
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  push_event(closure, NatsEvent::Kind::reconnected, url);
}
void on_closed(natsConnection* /*nc*/, void* closure) {
  push_event(closure, NatsEvent::Kind::closed);
}
void on_async_error(natsConnection* /*nc*/, natsSubscription* sub, natsStatus err, void* closure) {
  NatsEvent e;
  e.kind = err == NATS_SLOW_CONSUMER ? NatsEvent::Kind::slow_consumer : NatsEvent::Kind::error;
  e.text = natsStatus_GetText(err);
  // The loop finds the subscription by its handle (a pointer it keeps alive).
  e.sub = reinterpret_cast<std::uintptr_t>(sub);  // NOLINT
  static_cast<EventQueue*>(closure)->push(std::move(e));
}

// A JetStream publication's acknowledgement (on a library thread). One that failed (no
// answer within kPublishAckWaitMs: NATS away, the node gone, or the stream's leader moving;
// or JetStream refused it for now) goes to the loop, which sends it again on its next tick; its
// Nats-Msg-Id keeps it once in the stream.
void on_js_ack(jsCtx* /*js*/, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  NatsEvent e;
  e.kind = NatsEvent::Kind::js_ack;
  e.text = natsMsg_GetSubject(msg);
  if (pa != nullptr) {
    e.sub = pa->Duplicate ? 1 : 0;
    natsMsg_Destroy(msg);
  } else {
    e.sub = 2;
    e.msg.reset(msg);
    if (pae != nullptr) {
      e.error = std::string(natsStatus_GetText(pae->Err)) +
                (pae->ErrText != nullptr ? std::string(": ") + pae->ErrText : "");
    }
  }
  static_cast<EventQueue*>(closure)->push(std::move(e));
}

class Bridge {
 public:
  Bridge(const BridgeConfig& config, tools::Log& log)
      : config_(config), log_(log), metrics_(config.routes), queue_(kQueuedEvents) {}
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  int run();

 private:
  // A NATS subscription and what it is for.
  struct Sub {
    enum class Kind : std::uint8_t { route, replies, adverts, probes };
    Kind kind = Kind::route;
    std::size_t route = 0;
    NatsSubscription handle;
    std::unique_ptr<CallbackTarget> target;
  };
  // A local publication waiting for NATS to come back.
  struct Buffered {
    std::size_t route = 0;
    NatsMsg msg;
    std::size_t bytes = 0;
  };
  // A bus request sent on through NATS ("request" routes).
  struct Asking {
    std::size_t route = 0;
    std::uint16_t type = 0;
    std::uint32_t correlation = 0;
    Clock::time_point sent;
  };
  // Backpressure: a local publication that found the reconnect buffer full.
  struct Held {
    std::uint16_t type = 0;
    std::uint8_t flags = 0;
    std::vector<std::byte> payload;
  };
  // A NATS request handed to the bus ("serve" routes).
  struct Serving {
    std::size_t route = 0;
    std::string reply_to;
    Clock::time_point until;
  };
  // An origin's sequence on one subject ("in" routes).
  struct Seen {
    std::uint64_t last = 0;
    Clock::time_point at;
  };

  Result<void> connect_bus();
  Result<void> connect_nats();
  Result<void> setup_jetstream();
  Result<void> limit(const Sub& sub, const std::string& subject) const;
  natsStatus send_out(std::size_t ri, NatsMsg& msg);
  Result<void> subscribe(Sub::Kind kind, std::size_t route, const std::string& subject,
                         const std::string& queue = {});
  void loop();

  // Bus -> NATS.
  void on_bus_message(const Message& m);
  void publish_out(std::size_t ri, std::uint16_t type, std::uint8_t flags,
                   std::span<const std::byte> payload);
  bool buffer(std::size_t ri, NatsMsg msg, std::size_t bytes);
  void flush_buffer();
  void ask(std::size_t ri, const Message& m);
  void answer_serving(const Message& reply);

  // NATS -> bus.
  void on_event(NatsEvent& e);
  void on_route_message(std::size_t ri, natsMsg* msg);
  void serve_request(std::size_t ri, natsMsg* msg);
  void on_reply(natsMsg* msg);
  void on_advert(natsMsg* msg);
  bool count_sequence(std::size_t ri, natsMsg* msg);

  void on_tick(Clock::time_point now);
  void advertise();
  void set_serving(std::size_t ri, bool on, std::string_view why);
  static bool connected(const NatsConnection& c) {
    return natsConnection_Status(c.get()) == NATS_CONN_STATUS_CONNECTED;
  }
  bool connected() const { return connected(nc_); }
  static NatsMsg make_message(const std::string& subject, const char* reply,
                              std::span<const std::byte> payload);
  void publish_reply(const std::string& to, std::span<const std::byte> payload,
                     std::string_view error);
  std::size_t sub_of(std::uintptr_t handle) const;

  const BridgeConfig& config_;
  tools::Log& log_;
  Metrics metrics_;
  EventQueue queue_;
  Client bus_;
  NatsConnection nc_;
  NatsConnection rr_;  // requests and replies, sent at once (none without such routes)
  jsCtx* js_ = nullptr;
  jsPubOptions publish_options_{};  // every JetStream publication's (setup_jetstream())
  std::string stream_;
  std::optional<Dedupe> dedupe_;  // JetStream routes in
  std::vector<Sub> subs_;
  std::string origin_;  // host/session/start: this run of this bridge
  std::string inbox_;   // replies to our requests come to inbox_.<id>
  std::string adverts_subject_;
  std::string probe_subject_;

  std::unordered_map<std::uint16_t, std::size_t> out_routes_;      // type -> route
  std::unordered_map<std::uint16_t, std::size_t> request_routes_;  // type -> route
  std::vector<std::uint64_t> out_seq_;                             // per route
  std::vector<bool> serving_type_;                                 // request routes
  std::vector<Clock::time_point> advert_seen_;                     // request routes

  std::deque<std::pair<std::size_t, NatsMsg>> resend_;  // JetStream: not taken, sent again
  std::deque<Buffered> buffer_;
  std::size_t buffer_bytes_ = 0;
  std::optional<Held> held_;
  bool bus_paused_ = false;

  std::map<std::uint64_t, Asking> asking_;
  std::uint64_t next_ask_ = 1;
  std::unordered_map<std::uint32_t, Serving> serving_;
  std::unordered_map<std::string, Seen> seen_;  // origin \n subject
  std::string seen_key_;

  Clock::time_point next_tick_ = Clock::now();
  Clock::time_point next_advert_{};
  bool stop_ = false;
  int signal_fd_ = -1;
};

Bridge::~Bridge() {
  queue_.close();  // callbacks still running push nothing, wait for nothing
  subs_.clear();
  if (js_ != nullptr) jsCtx_Destroy(js_);
  rr_.reset();
  nc_.reset();
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

Result<void> Bridge::connect_bus() {
  ClientOptions o;
  o.session = config_.session;
  o.endpoint = config_.endpoint;
  o.name = "ferry-bridge";
  o.echo = false;  // what it publishes came from NATS: it must not come back to go out again
  o.send_timeout = kBusSendTimeout;
  o.on_link = [this](const LinkEvent& event) {
    // (Called inside a bus call: log only.)
    log_.write(event.kind == LinkEvent::Kind::lost ? LogLevel::warn : LogLevel::info, "bus",
               event.kind == LinkEvent::Kind::lost ? "lost" : "restored",
               event.kind == LinkEvent::Kind::lost ? "the local bus went away: " + event.reason
                                                   : std::string("the local bus is back"));
  };
  auto c = Client::connect(o);
  if (!c) return c.error();
  bus_ = std::move(*c);
  for (std::size_t i = 0; i < config_.routes.size(); ++i) {
    const Route& r = config_.routes[i];
    if (r.sends_out()) {
      if (auto s = bus_.subscribe(r.type); !s) return s.error();
      out_routes_[r.type] = i;
    }
    if (r.kind == Route::Kind::request) request_routes_[r.type] = i;
  }
  return {};
}

Result<void> Bridge::connect_nats() {
  natsOptions* raw = nullptr;
  if (auto s = natsOptions_Create(&raw); s != NATS_OK) return nats_error(s, "options");
  NatsOptions opts(raw);
  std::vector<const char*> urls;
  for (const std::string& u : config_.servers) urls.push_back(u.c_str());
  const auto check = [](natsStatus s, std::string_view what) -> Result<void> {
    if (s != NATS_OK) return nats_error(s, what);
    return {};
  };
  const std::string name = "ferry-bridge " + origin_;
  for (auto r : {
           check(natsOptions_SetServers(opts.get(), urls.data(), static_cast<int>(urls.size())),
                 "servers"),
           check(natsOptions_SetName(opts.get(), name.c_str()), "name"),
           check(natsOptions_SetNoEcho(opts.get(), true), "no echo"),
           check(natsOptions_SetTimeout(opts.get(), config_.connect_timeout.count()), "timeout"),
           check(natsOptions_SetMaxReconnect(opts.get(), -1), "reconnect"),
           check(natsOptions_SetReconnectWait(opts.get(), config_.reconnect_wait.count()),
                 "reconnect_wait"),
           check(natsOptions_SetReconnectJitter(opts.get(), config_.reconnect_jitter.count(),
                                                config_.reconnect_jitter.count()),
                 "reconnect_jitter"),
           check(natsOptions_SetReconnectBufSize(opts.get(),
                                                 static_cast<int>(config_.reconnect_buffer_bytes)),
                 "reconnect_buffer_bytes"),
           check(natsOptions_SetDisconnectedCB(opts.get(), on_disconnected, &queue_), "callback"),
           check(natsOptions_SetReconnectedCB(opts.get(), on_reconnected, &queue_), "callback"),
           check(natsOptions_SetClosedCB(opts.get(), on_closed, &queue_), "callback"),
           check(natsOptions_SetErrorHandler(opts.get(), on_async_error, &queue_), "callback"),
       }) {
    if (!r) return r;
  }
  if (!config_.user.empty()) {
    if (auto r = check(
            natsOptions_SetUserInfo(opts.get(), config_.user.c_str(), config_.password.c_str()),
            "user");
        !r) {
      return r;
    }
  }
  if (!config_.token.empty()) {
    if (auto r = check(natsOptions_SetToken(opts.get(), config_.token.c_str()), "token"); !r) {
      return r;
    }
  }
  if (!config_.creds.empty()) {
    if (auto r = check(
            natsOptions_SetUserCredentialsFromFiles(opts.get(), config_.creds.c_str(), nullptr),
            "creds " + config_.creds);
        !r) {
      return r;
    }
  }
  if (!config_.nkey_seed.empty()) {
    if (auto r = check(natsOptions_SetNKeyFromSeed(opts.get(), config_.nkey.c_str(),
                                                   config_.nkey_seed.c_str()),
                       "nkey_seed " + config_.nkey_seed);
        !r) {
      return r;
    }
  }
  if (!config_.tls_ca.empty()) {
    if (auto r = check(natsOptions_SetSecure(opts.get(), true), "tls"); !r) return r;
    if (auto r = check(natsOptions_LoadCATrustedCertificates(opts.get(), config_.tls_ca.c_str()),
                       "tls_ca " + config_.tls_ca);
        !r) {
      return r;
    }
  }
  if (!config_.tls_cert.empty()) {
    if (auto r = check(natsOptions_LoadCertificatesChain(opts.get(), config_.tls_cert.c_str(),
                                                         config_.tls_key.c_str()),
                       "tls_cert " + config_.tls_cert);
        !r) {
      return r;
    }
  }
  natsConnection* nc = nullptr;
  if (auto s = natsConnection_Connect(&nc, opts.get()); s != NATS_OK) {
    std::string servers;
    for (const std::string& u : config_.servers) servers += (servers.empty() ? "" : ", ") + u;
    return nats_error(s, "cannot connect to " + servers);
  }
  nc_.reset(nc);
  metrics_.connected().Set(1);
  // Requests and replies on a connection of their own that sends each at once: the main one
  // buffers publications for a moment (throughput), which a round trip would wait for.
  const bool asks_or_serves =
      std::any_of(config_.routes.begin(), config_.routes.end(), [](const Route& r) {
        return r.kind == Route::Kind::request || r.kind == Route::Kind::serve;
      });
  if (asks_or_serves) {
    const std::string rr_name = name + " requests";
    for (auto r : {check(natsOptions_SetSendAsap(opts.get(), true), "send asap"),
                   check(natsOptions_SetName(opts.get(), rr_name.c_str()), "name"),
                   check(natsOptions_SetDisconnectedCB(opts.get(), nullptr, nullptr), "callback"),
                   check(natsOptions_SetReconnectedCB(opts.get(), nullptr, nullptr), "callback"),
                   check(natsOptions_SetClosedCB(opts.get(), nullptr, nullptr), "callback")}) {
      if (!r) return r;
    }
    natsConnection* rr = nullptr;
    if (auto s = natsConnection_Connect(&rr, opts.get()); s != NATS_OK) {
      return nats_error(s, "cannot connect for requests");
    }
    rr_.reset(rr);
  }
  return {};
}

// The stream that holds the JetStream routes' subjects: made when missing, its subjects
// added to when some of ours are not among them. And where what is on the bus is kept.
Result<void> Bridge::setup_jetstream() {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4096;
  jo.PublishAsync.AckHandler = on_js_ack;
  jo.PublishAsync.AckHandlerClosure = &queue_;
  if (auto s = natsConnection_JetStream(&js_, nc_.get(), &jo); s != NATS_OK) {
    return nats_error(s, "JetStream");
  }
  jsPubOptions_Init(&publish_options_);
  publish_options_.MaxWait = kPublishAckWaitMs;
  stream_ = config_.stream;
  std::vector<std::string> ours;
  for (const Route& r : config_.routes) {
    if (r.delivery == Delivery::jetstream) ours.push_back(r.subject);
  }
  jsStreamInfo* info = nullptr;
  auto err = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_, stream_.c_str(), nullptr, &err);
  std::vector<std::string> subjects = ours;
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = stream_.c_str();
  sc.Storage = config_.stream_storage == "memory" ? js_MemoryStorage : js_FileStorage;
  sc.Replicas = config_.stream_replicas;
  sc.Duplicates = config_.duplicate_window.count() * kNanosPerMs;
  bool change = s == NATS_NOT_FOUND;
  if (s == NATS_OK && info != nullptr && info->Config != nullptr) {
    const jsStreamConfig& have = *info->Config;
    subjects.assign(have.Subjects, have.Subjects + have.SubjectsLen);
    for (const std::string& mine : ours) {
      if (std::find(subjects.begin(), subjects.end(), mine) == subjects.end()) {
        subjects.push_back(mine);
        change = true;
      }
    }
    sc.Storage = have.Storage;  // what the stream is, it stays
    sc.Replicas = have.Replicas;
    sc.Duplicates = have.Duplicates;
  } else if (s != NATS_NOT_FOUND) {
    return nats_error(s, "JetStream stream " + stream_ +
                             " (is JetStream enabled on the server? nats-server -js)");
  }
  std::vector<const char*> names;
  names.reserve(subjects.size());
  for (const std::string& n : subjects) names.push_back(n.c_str());
  sc.Subjects = names.data();
  sc.SubjectsLen = static_cast<int>(names.size());
  if (change) {
    jsStreamInfo* made = nullptr;
    s = info == nullptr ? js_AddStream(&made, js_, &sc, nullptr, &err)
                        : js_UpdateStream(&made, js_, &sc, nullptr, &err);
    if (made != nullptr) jsStreamInfo_Destroy(made);
  }
  if (info != nullptr) jsStreamInfo_Destroy(info);
  if (change && s != NATS_OK) {
    return nats_error(s, "JetStream stream " + stream_ + " (error " +
                             std::to_string(static_cast<int>(err)) + ")");
  }
  // The dedupe record: state_dir, else the session's runtime directory.
  std::string dir = config_.state_dir;
  if (dir.empty()) {
    auto session = resolve_session(config_.session);
    auto d = session ? session_dir(*session, true) : Result<std::string>(session.error());
    if (!d) return d.error();
    dir = *d;
  }
  auto d = Dedupe::open(dir + "/bridge-" + config_.host + ".dedupe", config_.dedupe_window);
  if (!d) return d.error();
  dedupe_ = std::move(*d);
  return {};
}

Result<void> Bridge::subscribe(Sub::Kind kind, std::size_t route, const std::string& subject,
                               const std::string& queue) {
  Sub sub;
  sub.kind = kind;
  sub.route = route;
  sub.target = std::make_unique<CallbackTarget>(CallbackTarget{&queue_, subs_.size()});
  natsSubscription* raw = nullptr;
  const Route* r = kind == Sub::Kind::route ? &config_.routes[route] : nullptr;
  if (r != nullptr && r->delivery == Delivery::jetstream) {
    // A durable consumer per host and route: a bridge started again takes up where it was,
    // and JetStream delivers again what it never acknowledged.
    std::string durable = "ferry_" + config_.host + "_" + std::to_string(r->type);
    for (char& ch : durable) {
      if (std::isalnum(static_cast<unsigned char>(ch)) == 0 && ch != '-') ch = '_';
    }
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream_.c_str();
    so.ManualAck = true;
    so.Config.Durable = durable.c_str();
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = config_.ack_wait.count() * kNanosPerMs;
    so.Config.MaxDeliver = config_.max_deliver;
    // Below the dedupe window, so that nothing outstanding falls behind it.
    so.Config.MaxAckPending =
        std::min<std::int64_t>(20'000, std::max<std::int64_t>(1, config_.dedupe_window / 2));
    auto err = static_cast<jsErrCode>(0);
    const natsStatus js = js_Subscribe(&raw, js_, subject.c_str(), on_nats_message,
                                       sub.target.get(), nullptr, &so, &err);
    if (js != NATS_OK) {
      return nats_error(js, "JetStream consumer " + durable + " on " + subject);
    }
    sub.handle.reset(raw);
    subs_.push_back(std::move(sub));
    return limit(subs_.back(), subject);
  }
  const natsStatus s =
      queue.empty() ? natsConnection_Subscribe(&raw, nc_.get(), subject.c_str(), on_nats_message,
                                               sub.target.get())
                    : natsConnection_QueueSubscribe(&raw, nc_.get(), subject.c_str(), queue.c_str(),
                                                    on_nats_message, sub.target.get());
  if (s != NATS_OK) return nats_error(s, "subscribe to " + subject);
  sub.handle.reset(raw);
  subs_.push_back(std::move(sub));
  return limit(subs_.back(), subject);
}

// What the library holds for a subscription before it drops and reports a slow consumer.
Result<void> Bridge::limit(const Sub& sub, const std::string& subject) const {
  constexpr int kPendingBytes = 64 << 20;
  if (auto s = natsSubscription_SetPendingLimits(
          sub.handle.get(), static_cast<int>(config_.pending_limit), kPendingBytes);
      s != NATS_OK) {
    return nats_error(s, "pending limits of " + subject);
  }
  return {};
}

std::size_t Bridge::sub_of(std::uintptr_t handle) const {
  for (std::size_t i = 0; i < subs_.size(); ++i) {
    if (reinterpret_cast<std::uintptr_t>(subs_[i].handle.get()) == handle) return i;  // NOLINT
  }
  return subs_.size();
}

NatsMsg Bridge::make_message(const std::string& subject, const char* reply,
                             std::span<const std::byte> payload) {
  natsMsg* raw = nullptr;
  if (natsMsg_Create(&raw, subject.c_str(), reply, reinterpret_cast<const char*>(payload.data()),
                     static_cast<int>(payload.size())) != NATS_OK) {
    return nullptr;
  }
  return NatsMsg(raw);
}

// ------------------------------------------------------------------------- bus -> NATS

void Bridge::on_bus_message(const Message& m) {
  if (m.is_reply()) return answer_serving(m);
  if (m.is_request()) {
    if (auto it = request_routes_.find(m.type); it != request_routes_.end()) {
      return ask(it->second, m);
    }
    (void)bus_.reply_error(m, "ferry-bridge has no request route for this type");
    return;
  }
  if (auto it = out_routes_.find(m.type); it != out_routes_.end()) {
    publish_out(it->second, m.type, m.flags, m.payload);
  }
}

void Bridge::publish_out(std::size_t ri, std::uint16_t type, std::uint8_t flags,
                         std::span<const std::byte> payload) {
  const Route& r = config_.routes[ri];
  NatsMsg msg = make_message(r.subject, nullptr, payload);
  if (!msg) {
    metrics_.route(ri).dropped_buffer->Increment();
    return;
  }
  const std::string seq = std::to_string(++out_seq_[ri]);
  const std::string trace = tools::new_traceparent();
  natsMsgHeader_Set(msg.get(), kType, std::to_string(type).c_str());
  if (flags != 0) natsMsgHeader_Set(msg.get(), kFlags, std::to_string(flags).c_str());
  natsMsgHeader_Set(msg.get(), kOrigin, origin_.c_str());
  natsMsgHeader_Set(msg.get(), kSeq, seq.c_str());
  natsMsgHeader_Set(msg.get(), kTrace, trace.c_str());
  if (r.delivery == Delivery::jetstream) {
    natsMsgHeader_Set(msg.get(), kMsgId, (origin_ + "-" + r.subject + "-" + seq).c_str());
  }
  const std::size_t bytes = payload.size();
  if (buffer_.empty() && connected()) {
    const natsStatus s = send_out(ri, msg);
    if (s == NATS_OK) {
      metrics_.route(ri).out_messages->Increment();
      metrics_.route(ri).out_bytes->Increment(static_cast<double>(bytes));
      return;
    }
    log_.limited(LogLevel::warn, "nats", "publish_failed", ri,
                 "a publication to " + r.subject + " failed, buffered: " + natsStatus_GetText(s),
                 {{"route", route_label(r)}});
  }
  if (!buffer(ri, std::move(msg), bytes)) {
    --out_seq_[ri];  // numbered again when it goes
    held_ = Held{type, flags, {payload.begin(), payload.end()}};
  }
}

// Core: published (the message stays the caller's); JetStream: handed to the library, which
// owns it from then on (`msg` is empty after NATS_OK) and answers in on_js_ack().
natsStatus Bridge::send_out(std::size_t ri, NatsMsg& msg) {
  if (config_.routes[ri].delivery == Delivery::core) {
    return natsConnection_PublishMsg(nc_.get(), msg.get());
  }
  natsMsg* raw = msg.get();
  const natsStatus s = js_PublishMsgAsync(js_, &raw, &publish_options_);
  if (raw == nullptr) (void)msg.release();
  return s;
}

// While NATS is away. False: no room and the route asks for backpressure (the caller holds
// the message and the bus is not read until there is room).
bool Bridge::buffer(std::size_t ri, NatsMsg msg, std::size_t bytes) {
  const Route& r = config_.routes[ri];
  const std::size_t cap = config_.reconnect_buffer_bytes;
  while (buffer_bytes_ + bytes > cap) {
    if (r.when_down == WhenDown::backpressure && bytes <= cap) {
      if (!bus_paused_) {
        log_.write(LogLevel::warn, "nats", "backpressure",
                   "NATS is away and the reconnect buffer is full: the bus is not read until "
                   "it comes back (local publishers wait)",
                   {{"route", route_label(r)}, {"buffered", std::uint64_t{buffer_.size()}}});
      }
      bus_paused_ = true;
      return false;
    }
    if (r.when_down == WhenDown::drop_oldest && !buffer_.empty()) {
      Buffered& oldest = buffer_.front();
      metrics_.route(oldest.route).dropped_buffer->Increment();
      buffer_bytes_ -= oldest.bytes;
      buffer_.pop_front();
      log_.limited(LogLevel::warn, "nats", "dropped_oldest", ri,
                   "NATS is away and the reconnect buffer is full: the oldest message in it "
                   "was dropped",
                   {{"route", route_label(config_.routes[ri])}});
      continue;
    }
    metrics_.route(ri).dropped_buffer->Increment();
    log_.limited(LogLevel::warn, "nats", "dropped", ri,
                 "NATS is away and the reconnect buffer is full: a publication was dropped",
                 {{"route", route_label(r)}});
    return true;
  }
  buffer_bytes_ += bytes;
  buffer_.push_back(Buffered{ri, std::move(msg), bytes});
  metrics_.buffer_bytes().Set(static_cast<double>(buffer_bytes_));
  metrics_.buffer_messages().Set(static_cast<double>(buffer_.size()));
  return true;
}

void Bridge::flush_buffer() {
  while (!buffer_.empty() && connected()) {
    Buffered& b = buffer_.front();
    if (send_out(b.route, b.msg) != NATS_OK) break;
    metrics_.route(b.route).out_messages->Increment();
    metrics_.route(b.route).out_bytes->Increment(static_cast<double>(b.bytes));
    buffer_bytes_ -= b.bytes;
    buffer_.pop_front();
  }
  metrics_.buffer_bytes().Set(static_cast<double>(buffer_bytes_));
  metrics_.buffer_messages().Set(static_cast<double>(buffer_.size()));
  if (held_ && buffer_bytes_ + held_->payload.size() <= config_.reconnect_buffer_bytes) {
    const Held h = std::move(*held_);
    held_.reset();
    bus_paused_ = false;
    publish_out(out_routes_.at(h.type), h.type, h.flags, h.payload);
    if (!bus_paused_) {
      log_.write(LogLevel::info, "nats", "resumed", "the bus is read again",
                 {{"buffered", std::uint64_t{buffer_.size()}}});
    }
  }
}

void Bridge::ask(std::size_t ri, const Message& m) {
  const Route& r = config_.routes[ri];
  const std::uint64_t id = next_ask_++;
  const std::string reply_to = inbox_ + "." + std::to_string(id);
  NatsMsg msg = make_message(r.subject, reply_to.c_str(), m.payload);
  const std::string type = std::to_string(m.type);
  const std::string trace = tools::new_traceparent();
  natsStatus s = NATS_NO_MEMORY;
  if (msg) {
    natsMsgHeader_Set(msg.get(), kType, type.c_str());
    natsMsgHeader_Set(msg.get(), kOrigin, origin_.c_str());
    natsMsgHeader_Set(msg.get(), kTrace, trace.c_str());
    s = connected(rr_) ? natsConnection_PublishMsg(rr_.get(), msg.get())
                       : NATS_CONNECTION_DISCONNECTED;
  }
  if (s != NATS_OK) {
    metrics_.route(ri).requests_error->Increment();
    (void)bus_.reply_error(m, "ferry-bridge: NATS is unreachable, the request to " + r.subject +
                                  " was not sent (" + natsStatus_GetText(s) + ")");
    return;
  }
  metrics_.route(ri).out_messages->Increment();
  metrics_.route(ri).out_bytes->Increment(static_cast<double>(m.payload.size()));
  asking_.emplace(id, Asking{ri, m.type, m.correlation, Clock::now()});
  log_.write(LogLevel::debug, "request", "sent", "a request goes to NATS",
             {{"route", route_label(r)}, {"trace_id", tools::trace_id(trace)}});
}

void Bridge::answer_serving(const Message& reply) {
  auto it = serving_.find(reply.correlation);
  if (it == serving_.end()) return;  // timed out meanwhile
  const Serving s = std::move(it->second);
  serving_.erase(it);
  auto& rm = metrics_.route(s.route);
  if (reply.is_error()) {
    rm.requests_error->Increment();
    publish_reply(s.reply_to, {}, reply.text());
  } else {
    rm.requests_ok->Increment();
    publish_reply(s.reply_to, reply.payload, {});
  }
  rm.out_messages->Increment();
  rm.out_bytes->Increment(static_cast<double>(reply.payload.size()));
}

void Bridge::publish_reply(const std::string& to, std::span<const std::byte> payload,
                           std::string_view error) {
  NatsMsg msg = make_message(to, nullptr, payload);
  if (!msg) return;
  if (!error.empty()) natsMsgHeader_Set(msg.get(), kError, std::string(error).c_str());
  natsMsgHeader_Set(msg.get(), kOrigin, origin_.c_str());
  (void)natsConnection_PublishMsg(rr_.get(), msg.get());
}

// ------------------------------------------------------------------------- NATS -> bus

void Bridge::on_event(NatsEvent& e) {
  switch (e.kind) {
    case NatsEvent::Kind::message: {
      if (e.sub >= subs_.size()) return;
      const Sub& sub = subs_[e.sub];
      switch (sub.kind) {
        case Sub::Kind::route:
          if (config_.routes[sub.route].kind == Route::Kind::serve) {
            serve_request(sub.route, e.msg.get());
          } else {
            on_route_message(sub.route, e.msg.get());
          }
          break;
        case Sub::Kind::replies: on_reply(e.msg.get()); break;
        case Sub::Kind::adverts: on_advert(e.msg.get()); break;
        case Sub::Kind::probes: next_advert_ = {}; break;
      }
      return;
    }
    case NatsEvent::Kind::disconnected:
      metrics_.connected().Set(0);
      metrics_.disconnects().Increment();
      log_.write(LogLevel::warn, "nats", "disconnected",
                 "lost the connection to NATS; reconnecting (publications are buffered up to "
                 "reconnect_buffer_bytes)",
                 {{"buffer_bytes", std::uint64_t{config_.reconnect_buffer_bytes}}});
      return;
    case NatsEvent::Kind::reconnected:
      // A round trip: the server has the subscriptions the library sent again by then.
      (void)natsConnection_FlushTimeout(nc_.get(), 1000);
      metrics_.connected().Set(1);
      metrics_.reconnects().Increment();
      log_.write(LogLevel::info, "nats", "reconnected", "connected to NATS again",
                 {{"server", e.text}, {"buffered", std::uint64_t{buffer_.size()}}});
      flush_buffer();
      next_advert_ = {};
      return;
    case NatsEvent::Kind::closed:
      metrics_.connected().Set(0);
      log_.write(LogLevel::error, "nats", "closed", "the connection to NATS is closed for good");
      stop_ = true;
      return;
    case NatsEvent::Kind::slow_consumer: {
      const std::size_t i = sub_of(e.sub);
      std::string subject = "?";
      if (i < subs_.size()) {
        subject = natsSubscription_GetSubject(subs_[i].handle.get());
        if (subs_[i].kind == Sub::Kind::route) {
          metrics_.route(subs_[i].route).slow_consumer->Increment();
        }
      }
      log_.limited(LogLevel::warn, "nats", "slow_consumer", i,
                   "the bridge cannot keep up with " + subject +
                       ": the NATS client dropped messages of it (the local bus is slower "
                       "than what arrives)",
                   {{"subject", subject}});
      return;
    }
    case NatsEvent::Kind::error:
      log_.limited(LogLevel::warn, "nats", "error", 0, "NATS reported: " + e.text);
      return;
    case NatsEvent::Kind::js_ack:
      for (std::size_t ri = 0; ri < config_.routes.size(); ++ri) {
        const Route& r = config_.routes[ri];
        if (r.delivery != Delivery::jetstream || !r.sends_out() || r.subject != e.text) continue;
        if (e.sub == 1) metrics_.route(ri).duplicates->Increment();
        if (e.sub == 2) {
          metrics_.route(ri).redeliveries->Increment();
          log_.limited(LogLevel::warn, "nats", "js_resend", ri,
                       "JetStream did not take a publication to " + r.subject +
                           "; it is sent again (" + e.error + ")",
                       {{"route", route_label(r)}});
          resend_.emplace_back(ri, std::move(e.msg));
        }
        break;
      }
      return;
  }
}

// Whether the message is new from its origin; counts gaps and duplicates. Messages without
// ferry headers (a plain NATS publisher) are always new.
bool Bridge::count_sequence(std::size_t ri, natsMsg* msg) {
  const std::string_view origin = nats_header(msg, kOrigin);
  const auto seq = number<std::uint64_t>(nats_header(msg, kSeq));
  if (origin.empty() || !seq) return true;
  const Route& r = config_.routes[ri];
  const Clock::time_point now = Clock::now();
  seen_key_.assign(origin);  // (reused: no allocation a message)
  seen_key_ += '\n';
  seen_key_ += natsMsg_GetSubject(msg);
  const auto it = seen_.find(seen_key_);
  if (it == seen_.end()) {
    seen_.emplace(seen_key_, Seen{*seq, now});
    return true;
  }
  Seen& s = it->second;
  s.at = now;
  if (*seq <= s.last) {
    metrics_.route(ri).duplicates->Increment();
    return false;
  }
  if (*seq > s.last + 1) {
    const std::uint64_t missing = *seq - s.last - 1;
    metrics_.route(ri).gaps->Increment(static_cast<double>(missing));
    log_.limited(
        LogLevel::warn, "nats", "gap", ri,
        "messages from " + std::string(origin) + " on " + r.subject +
            " never arrived (core delivery is at most once)",
        {{"route", route_label(r)}, {"missing", missing}, {"after", s.last}, {"origin", origin}});
  }
  s.last = *seq;
  return true;
}

void Bridge::on_route_message(std::size_t ri, natsMsg* msg) {
  const Route& r = config_.routes[ri];
  const bool js = r.delivery == Delivery::jetstream;
  const std::string_view origin = nats_header(msg, kOrigin);
  std::string key;
  std::optional<std::uint64_t> seq;
  if (js) {
    // At least once: what is on the bus already (JetStream delivering again what it was
    // never told of) is acknowledged and dropped; the rest is acknowledged once it is.
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      if (meta->NumDelivered > 1) metrics_.route(ri).redeliveries->Increment();
      jsMsgMetaData_Destroy(meta);
    }
    seq = number<std::uint64_t>(nats_header(msg, kSeq));
    if (!origin.empty() && seq) {
      key = std::string(origin) + "\n" + natsMsg_GetSubject(msg);
      if (dedupe_ && dedupe_->seen(key, *seq)) {
        metrics_.route(ri).duplicates->Increment();
        (void)natsMsg_Ack(msg, nullptr);
        return;
      }
    }
    if (origin == origin_) {
      (void)natsMsg_Ack(msg, nullptr);
      return;
    }
  } else {
    if (origin == origin_) return;  // ours: never back in
    if (!count_sequence(ri, msg)) return;
  }
  const auto payload = bytes_of(msg);
  auto sent = bus_.send(r.type, payload);
  if (js && sent) {
    if (!key.empty() && dedupe_) dedupe_->commit(key, *seq);
    (void)natsMsg_Ack(msg, nullptr);
  } else if (js) {
    // Delivered again in a second (up to max_deliver times), not at once into the same wall.
    (void)natsMsg_NakWithDelay(msg, 1000, nullptr);  // (milliseconds)
  }
  if (!sent) {
    metrics_.route(ri).dropped_bus->Increment();
    log_.limited(
        LogLevel::warn, "bus", "publish_failed", ri,
        "the local bus did not take a message from " + r.subject + ": " + sent.error().message(),
        {{"route", route_label(r)}});
    return;
  }
  metrics_.route(ri).in_messages->Increment();
  metrics_.route(ri).in_bytes->Increment(static_cast<double>(payload.size()));
}

void Bridge::serve_request(std::size_t ri, natsMsg* msg) {
  const Route& r = config_.routes[ri];
  const char* reply_to = natsMsg_GetReply(msg);
  if (reply_to == nullptr || *reply_to == '\0') return;  // not a request
  const auto payload = bytes_of(msg);
  metrics_.route(ri).in_messages->Increment();
  metrics_.route(ri).in_bytes->Increment(static_cast<double>(payload.size()));
  auto corr = bus_.send_request(r.type, payload);
  if (!corr) {
    metrics_.route(ri).requests_error->Increment();
    publish_reply(reply_to, {}, "ferry-bridge " + config_.host + ": " + corr.error().message());
    return;
  }
  serving_[*corr] = Serving{ri, reply_to, Clock::now() + config_.request_timeout};
  const std::string_view trace = nats_header(msg, kTrace);
  log_.write(LogLevel::debug, "request", "serving", "a request from NATS goes to the bus",
             {{"route", route_label(r)}, {"trace_id", tools::trace_id(trace)}});
}

void Bridge::on_reply(natsMsg* msg) {
  const std::string_view subject = natsMsg_GetSubject(msg);
  const auto id = number<std::uint64_t>(subject.substr(subject.rfind('.') + 1));
  if (!id) return;
  auto it = asking_.find(*id);
  if (it == asking_.end()) return;  // timed out meanwhile
  const Asking a = it->second;
  asking_.erase(it);
  const Route& r = config_.routes[a.route];
  auto& rm = metrics_.route(a.route);
  Message request;
  request.type = a.type;
  request.correlation = a.correlation;
  if (natsMsg_IsNoResponders(msg)) {
    rm.requests_error->Increment();
    (void)bus_.reply_error(request, "ferry-bridge: no responder on NATS for " + r.subject);
    return;
  }
  rm.request_seconds->Observe(std::chrono::duration<double>(Clock::now() - a.sent).count());
  const auto payload = bytes_of(msg);
  rm.in_messages->Increment();
  rm.in_bytes->Increment(static_cast<double>(payload.size()));
  if (const std::string_view error = nats_header(msg, kError); !error.empty()) {
    rm.requests_error->Increment();
    (void)bus_.reply_error(request, error);
    return;
  }
  rm.requests_ok->Increment();
  (void)bus_.reply(request, payload);
}

void Bridge::on_advert(natsMsg* msg) {
  const std::string_view subject = text_of(bytes_of(msg));
  const Clock::time_point now = Clock::now();
  for (const auto& [type, ri] : request_routes_) {
    if (config_.routes[ri].subject != subject) continue;
    advert_seen_[ri] = now;
    if (!serving_type_[ri]) {
      set_serving(ri, true, "a responder on another host advertises " + std::string(subject));
    }
  }
}

void Bridge::set_serving(std::size_t ri, bool on, std::string_view why) {
  const Route& r = config_.routes[ri];
  auto done = on ? bus_.serve(r.type) : bus_.unserve(r.type);
  if (!done) {
    log_.limited(LogLevel::warn, "bus", on ? "serve_failed" : "unserve_failed", ri,
                 "cannot change what the bridge serves on the bus: " + done.error().message(),
                 {{"route", route_label(r)}});
    return;
  }
  serving_type_[ri] = on;
  metrics_.route(ri).remote_responders->Set(on ? 1 : 0);
  log_.write(LogLevel::info, "request", on ? "serving" : "not_serving",
             std::string(on ? "serving " : "no longer serving ") + "type " +
                 std::to_string(r.type) + " on the bus: " + std::string(why),
             {{"route", route_label(r)}});
}

// ---------------------------------------------------------------------------- the loop

void Bridge::advertise() {
  for (const Route& r : config_.routes) {
    if (r.kind != Route::Kind::serve) continue;
    NatsMsg msg = make_message(adverts_subject_, nullptr, std::as_bytes(std::span(r.subject)));
    if (!msg) continue;
    natsMsgHeader_Set(msg.get(), kOrigin, origin_.c_str());
    (void)natsConnection_PublishMsg(nc_.get(), msg.get());
  }
}

void Bridge::on_tick(Clock::time_point now) {
  while (!resend_.empty() && connected()) {
    auto& [ri, msg] = resend_.front();
    if (send_out(ri, msg) != NATS_OK) break;
    resend_.pop_front();
  }
  if (!buffer_.empty() || held_) flush_buffer();
  if (bus_.fd() < 0) {  // the bus went away: poll() reconnects (and restores subscriptions)
    (void)bus_.poll([this](const Message& m) { on_bus_message(m); }, 1);
  }
  if (now >= next_advert_) {
    advertise();
    next_advert_ = now + config_.responder_ttl / 3;
  }
  for (const auto& [type, ri] : request_routes_) {
    if (serving_type_[ri] && now - advert_seen_[ri] > config_.responder_ttl) {
      set_serving(
          ri, false,
          "no responder advertised for " + std::to_string(config_.responder_ttl.count()) + " ms");
    }
  }
  // Requests through NATS that nobody answered in time.
  for (auto it = asking_.begin(); it != asking_.end();) {
    if (now - it->second.sent < config_.request_timeout) {
      ++it;
      continue;
    }
    const Route& r = config_.routes[it->second.route];
    metrics_.route(it->second.route).requests_timeout->Increment();
    Message request;
    request.type = it->second.type;
    request.correlation = it->second.correlation;
    (void)bus_.reply_error(request, "ferry-bridge: no reply through NATS from " + r.subject +
                                        " within " +
                                        std::to_string(config_.request_timeout.count()) + " ms");
    it = asking_.erase(it);
  }
  for (auto it = serving_.begin(); it != serving_.end();) {
    if (now < it->second.until) {
      ++it;
      continue;
    }
    metrics_.route(it->second.route).requests_timeout->Increment();
    publish_reply(it->second.reply_to, {},
                  "ferry-bridge " + config_.host + ": no reply on the bus within " +
                      std::to_string(config_.request_timeout.count()) + " ms");
    it = serving_.erase(it);
  }
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = now - it->second.at > kForgetOrigin ? seen_.erase(it) : std::next(it);
  }
}

void Bridge::loop() {
  const auto handler = [this](const Message& m) { on_bus_message(m); };
  while (!stop_) {
    const Clock::time_point now = Clock::now();
    if (now >= next_tick_) {
      on_tick(now);
      next_tick_ = now + kTick;
    }
    // The bus: messages already here are taken without sleeping; while NATS is away one at
    // a time, so that the one that finds the buffer full is the last taken.
    bool bus_ready = false;
    bool bus_armed = false;
    if (!bus_paused_ && bus_.fd() >= 0) {
      if (bus_.prepare_wait()) {
        bus_armed = true;
      } else {
        bus_ready = true;
      }
    }
    pollfd fds[3] = {{queue_.fd(), POLLIN, 0}, {signal_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    if (bus_armed) fds[2].fd = bus_.fd();
    const auto until_tick = std::chrono::duration_cast<milliseconds>(next_tick_ - Clock::now());
    const int timeout =
        bus_ready ? 0 : static_cast<int>(std::max<std::int64_t>(0, until_tick.count() + 1));
    if (::poll(fds, 3, timeout) < 0 && errno != EINTR) {
      log_.write(LogLevel::error, "bridge", "poll", std::string("poll: ") + std::strerror(errno));
      stop_ = true;
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == sizeof info) {
        log_.write(LogLevel::info, "bridge", "stopping",
                   info.ssi_signo == SIGINT ? "SIGINT: stopping" : "SIGTERM: stopping");
      }
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      auto events = queue_.take();
      for (NatsEvent& e : events) on_event(e);
    }
    if (bus_ready || (bus_armed && fds[2].revents != 0)) {
      const std::size_t batch = buffer_.empty() && connected() ? kPollBatch : 1;
      if (auto n = bus_.poll(handler, batch); !n) {
        log_.limited(LogLevel::warn, "bus", "poll_failed", 0,
                     "the local bus: " + n.error().message());
      }
    }
  }
}

int Bridge::run() {
  // SIGINT and SIGTERM through a signalfd; blocked before nats.c starts its threads, so
  // that they are delivered to none of them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal_fd_ = ::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ < 0) {
    log_.write(LogLevel::error, "bridge", "signals",
               std::string("signalfd: ") + std::strerror(errno));
    return 1;
  }
  out_seq_.assign(config_.routes.size(), 0);
  serving_type_.assign(config_.routes.size(), false);
  advert_seen_.assign(config_.routes.size(), Clock::time_point{});
  origin_ = config_.host + "/" + (config_.session.empty() ? "-" : config_.session) + "/" +
            std::to_string(std::chrono::duration_cast<milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count()) +
            "-" + std::to_string(::getpid());
  adverts_subject_ = "ferry." + config_.ns + "._serving";
  probe_subject_ = "ferry." + config_.ns + "._who_serves";
  if (auto r = connect_bus(); !r) {
    log_.write(LogLevel::error, "bus", "connect",
               "cannot use the local bus: " + r.error().message());
    return 3;
  }
  if (auto r = connect_nats(); !r) {
    log_.write(LogLevel::error, "nats", "connect", r.error().message());
    return 1;
  }
  if (std::any_of(config_.routes.begin(), config_.routes.end(),
                  [](const Route& r) { return r.delivery == Delivery::jetstream; })) {
    if (auto r = setup_jetstream(); !r) {
      log_.write(LogLevel::error, "nats", "jetstream", r.error().message());
      return 1;
    }
  }
  // The inbox: a token NATS cannot confuse with another bridge's.
  inbox_ = "_INBOX.ferry." + std::to_string(std::hash<std::string>{}(origin_));
  bool asks = false;
  bool serves = false;
  for (std::size_t i = 0; i < config_.routes.size(); ++i) {
    const Route& r = config_.routes[i];
    Result<void> s;
    if (r.takes_in()) s = subscribe(Sub::Kind::route, i, r.subject);
    if (r.kind == Route::Kind::serve) {
      s = subscribe(Sub::Kind::route, i, r.subject, r.queue);
      serves = true;
    }
    asks |= r.kind == Route::Kind::request;
    if (!s) {
      log_.write(LogLevel::error, "nats", "subscribe", s.error().message());
      return 1;
    }
  }
  Result<void> s;
  if (asks) {
    s = subscribe(Sub::Kind::replies, 0, inbox_ + ".*");
    if (s) s = subscribe(Sub::Kind::adverts, 0, adverts_subject_);
  }
  if (s && serves) s = subscribe(Sub::Kind::probes, 0, probe_subject_);
  if (!s) {
    log_.write(LogLevel::error, "nats", "subscribe", s.error().message());
    return 1;
  }
  if (asks) (void)natsConnection_PublishString(nc_.get(), probe_subject_.c_str(), "");
  // A round trip: the server has every subscription before READY=1.
  if (auto f = natsConnection_FlushTimeout(nc_.get(), config_.connect_timeout.count());
      f != NATS_OK) {
    log_.write(LogLevel::error, "nats", "subscribe", nats_error(f, "flush").message());
    return 1;
  }
  std::string metrics_at;
  if (!config_.metrics_listen.empty()) {
    auto at = metrics_.listen(config_.metrics_listen);
    if (!at) {
      log_.write(LogLevel::error, "metrics", "listen", at.error().message());
      return 1;
    }
    metrics_at = *at;
  }
  char url[256] = {};
  natsConnection_GetConnectedUrl(nc_.get(), url, sizeof url);
  log_.write(LogLevel::info, "bridge", "started", "ferry-bridge is running",
             {{"origin", origin_},
              {"nats", std::string_view(url)},
              {"routes", std::uint64_t{config_.routes.size()}},
              {"metrics", metrics_at.empty() ? std::string_view("none") : metrics_at},
              {"bus", bus_.socket_path()}});
  (void)tools::notify_service_manager(
      "READY=1\nSTATUS=connected to " + std::string(url) +
      (metrics_at.empty() ? "" : ", metrics on http://" + metrics_at + "/metrics"));
  loop();
  (void)tools::notify_service_manager("STOPPING=1");
  // What NATS has not taken yet goes before the connection closes.
  if (nc_) (void)natsConnection_FlushTimeout(nc_.get(), 1000);
  log_.write(LogLevel::info, "bridge", "stopped", "ferry-bridge stopped",
             {{"buffered_dropped", std::uint64_t{buffer_.size()}}});
  return stop_ ? 1 : 0;  // (stop_: it could not go on; a signal returns from loop() without)
}

}  // namespace

int run_bridge(const BridgeConfig& config, tools::Log& log) {
  // nats.c spins on a busy lock 2000 times before it sleeps: CPU taken from the very threads
  // it waits for whenever there are more busy threads than cores. 0: sleep at once (no
  // difference measured on a quiet machine; it is for the loaded one).
  if (const natsStatus s = nats_Open(0); s != NATS_OK) {
    log.write(LogLevel::error, "nats", "start_failed", nats_error(s, "start").message());
    return 1;
  }
  Bridge bridge(config, log);
  return bridge.run();
}

}  // namespace ferry::bridge
