// SPDX-License-Identifier: Apache-2.0
// tools/gateway/gateway.cpp: the gateway's event loop, links and pools (gateway.hpp).
#include "gateway/gateway.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/service_notify.hpp"
#include "ferry/client.hpp"
#include "gateway/link.hpp"
#include "gateway/metrics.hpp"

namespace ferry::gateway {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using tools::LogLevel;

constexpr std::size_t kMaxWaiting = 10'000;  // messages a pool holds while it has no link
constexpr milliseconds kTick{50};
constexpr milliseconds kMaxBackoff{5'000};
constexpr milliseconds kDrain{1'000};
constexpr std::uint32_t kDownAfter = 3;      // failed connects in a row: the upstream is down
constexpr std::size_t kMaxConnecting = 8;    // connects at once while a pool fills to pool_min
constexpr milliseconds kResolveTtl{30'000};  // how long a pool keeps an upstream's addresses

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::string text_of(const beast::error_code& ec) {
  return ec.message();
}

// Why a TLS handshake failed, in words a person can act on.
std::string tls_failure(SSL* ssl, const beast::error_code& ec) {
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return std::string("the peer's certificate was refused: ") +
             X509_verify_cert_error_string(verify);
    }
  }
  std::string why = ec.message();
  if (ec.category() == net::error::get_ssl_category()) {
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    why = buf;
  }
  if (why.find("certificate required") != std::string::npos ||
      why.find("peer did not return a certificate") != std::string::npos) {
    return "a client certificate is required and none was given (" + why + ")";
  }
  return "TLS handshake failed: " + why;
}

class Gateway;
class Pool;

// ------------------------------------------------------------------------------- Link

// One WebSocket connection, either direction, speaking ferry.v1 (or, towards a raw
// upstream, carrying bare payloads). The transport lives in WsLink<Stream>.
class Link : public std::enable_shared_from_this<Link> {
 public:
  enum class State : std::uint8_t { connecting, open, draining, closed };

  // A request sent on this link, waiting for its reply: what the bus asked.
  struct Outstanding {
    std::uint16_t type = 0;
    std::uint32_t bus_correlation = 0;
    Clock::time_point deadline;
    std::string trace;
    Clock::time_point sent_at = Clock::now();
  };

  Link(Gateway& g, std::string peer, Pool* pool) : g_(g), peer_(std::move(peer)), pool_(pool) {}
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  virtual ~Link() = default;

  const std::string& peer() const noexcept { return peer_; }
  State state() const noexcept { return state_; }
  Pool* pool() const noexcept { return pool_; }
  bool raw() const noexcept;
  std::size_t inflight() const noexcept { return outstanding_.size(); }
  std::size_t queued_bytes() const noexcept { return queued_; }
  Clock::time_point opened_at() const noexcept { return opened_at_; }
  Clock::time_point last_used() const noexcept { return last_used_; }
  Clock::time_point renew_at() const noexcept { return renew_at_; }
  void set_renew_at(Clock::time_point at) noexcept { renew_at_ = at; }
  std::map<std::uint32_t, Outstanding>& outstanding() noexcept { return outstanding_; }

  // Queues one frame (ferry.v1) or one message (raw).
  void send(std::uint16_t type, std::uint8_t flags, std::uint32_t correlation,
            std::span<const std::byte> payload, std::string_view traceparent = {});
  // Sends a request; returns the link's correlation id for it.
  std::uint32_t request(std::uint16_t type, std::span<const std::byte> payload, Outstanding what);
  // Tells the peer no new requests come (goaway) and closes once nothing is in flight.
  void drain(std::string_view reason);
  // Closes now; what was in flight fails with `reason`.
  void close(const std::string& reason, websocket::close_code code = websocket::close_code::normal);

  // Health: whether the ping out is overdue, and on a ping round a new ping (if none is out).
  void health_check(Clock::time_point now, bool ping_round);

  virtual void start() = 0;

 protected:
  virtual void write_next() = 0;
  virtual void close_transport(websocket::close_reason reason) = 0;
  virtual void ping() = 0;

  // The transport's events.
  void on_open();
  void on_message(std::span<const std::byte> bytes, bool text);
  void on_written();
  void on_pong();
  void on_failed(const std::string& why);  // the transport is gone
  void on_link_gone_once(const std::string& why);

  Gateway& g_;
  std::string peer_;
  Pool* pool_;
  State state_ = State::connecting;
  LinkWriter writer_;
  std::optional<LinkReader> reader_;
  bool got_hello_ = false;
  std::deque<std::vector<std::byte>> out_;  // front: being written once writing_
  bool writing_ = false;
  std::size_t queued_ = 0;
  std::map<std::uint32_t, Outstanding> outstanding_;
  std::uint32_t next_correlation_ = 1;
  std::string pending_trace_;  // from a trace frame, for the next frame
  Clock::time_point created_at_ = Clock::now();
  Clock::time_point opened_at_ = Clock::now();
  Clock::time_point last_used_ = Clock::now();
  Clock::time_point renew_at_{};  // set by the pool once open
  std::optional<Clock::time_point> ping_sent_;
  std::uint32_t failed_pings_ = 0;
  bool gone_ = false;  // the gateway was told
};

// ------------------------------------------------------------------------------- Pool

// The links to one upstream: kept between pool_min and pool_max, grown while every link
// has pool_max_inflight requests waiting, shrunk after pool_idle_timeout unused and
// renewed after about max_lifetime. Below pool_min it opens up to kMaxConnecting at once,
// else one at a time. Connects back off exponentially after failures; after kDownAfter in a
// row the upstream is down and what waits for it fails at once, until a connect succeeds
// again.
class Pool {
 public:
  Pool(Gateway& g, Upstream upstream) : g_(g), up_(std::move(upstream)) {}
  ~Pool() {
    if (tls_session_ != nullptr) SSL_SESSION_free(tls_session_);
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // TLS session resumption: the newest session the upstream gave us (a ticket), offered by
  // the next connection so that its handshake skips the certificate exchange.
  SSL_SESSION* tls_session() const noexcept { return tls_session_; }
  void keep_tls_session(SSL_SESSION* session) noexcept {  // takes the reference
    if (tls_session_ != nullptr) SSL_SESSION_free(tls_session_);
    tls_session_ = session;
  }

  const Upstream& upstream() const noexcept { return up_; }
  // The upstream's addresses, resolved by an earlier connect and kept kResolveTtl (a failed
  // connect forgets them), so that a new connection skips the resolver; null: resolve.
  const tcp::resolver::results_type* endpoints(Clock::time_point now) const noexcept {
    return !endpoints_.empty() && now - resolved_at_ < kResolveTtl ? &endpoints_ : nullptr;
  }
  void keep_endpoints(tcp::resolver::results_type found) {
    endpoints_ = std::move(found);
    resolved_at_ = Clock::now();
  }
  void publish(std::uint16_t type, std::span<const std::byte> payload);
  void request(std::uint16_t type, std::span<const std::byte> payload, std::uint32_t bus_corr,
               std::string trace);
  // Every kTick: connections to open or close, waiting messages to place.
  void maintain(Clock::time_point now);
  void on_link_open(Clock::duration handshake);
  void on_link_closed(Link* link, const std::string& why);
  void on_connect_failed(const std::string& why);
  void drain_all();
  std::size_t size() const noexcept { return links_.size(); }
  PoolView view() const;

  PoolStats stats;

 private:
  struct Waiting {
    bool is_request = false;
    std::uint16_t type = 0;
    std::vector<std::byte> payload;
    std::uint32_t bus_corr = 0;
    std::string trace;
    Clock::time_point since;
  };
  std::shared_ptr<Link> pick(bool for_request);
  void open_link();
  void place_waiting();
  void fail_waiting(const std::string& why);
  void send_request(const std::shared_ptr<Link>& link, Waiting& w, bool reused_link);
  void fail(std::uint16_t type, std::uint32_t bus_corr, const std::string& why);

  Gateway& g_;
  Upstream up_;
  std::vector<std::shared_ptr<Link>> links_;
  std::deque<Waiting> waiting_;
  std::uint32_t connect_failures_ = 0;
  Clock::time_point next_connect_{};
  tcp::resolver::results_type endpoints_;
  Clock::time_point resolved_at_{};
  // Health-check pings go out in rounds, every open link at once: an idle pool then wakes
  // both ends once per ping_interval, not once per link.
  Clock::time_point next_ping_round_ = Clock::now();
  std::string last_failure_;
  std::mt19937 jitter_{std::random_device{}()};
  SSL_SESSION* tls_session_ = nullptr;
};

// Which pool an outbound TLS connection belongs to, for OpenSSL's new-session callback.
int pool_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// ---------------------------------------------------------------------------- Gateway

class Gateway {
 public:
  Gateway(const GatewayConfig& c, tools::Log& l)
      : config(c),
        log(l),
        server_tls_(ssl::context::tls_server),
        client_tls_(ssl::context::tls_client),
        bus_fd_(ioc),
        tick_(ioc),
        signals_(ioc, SIGINT, SIGTERM) {}

  int run();

  // What links hand up.
  Result<void> on_frame(Link& link, const LinkFrame& frame, const std::string& trace);
  void on_raw_message(Link& link, std::span<const std::byte> bytes);
  void on_link_gone(Link& link, const std::string& why);
  // A request the bus asked for failed before its reply came.
  void fail_bus_request(std::uint16_t type, std::uint32_t bus_corr, const std::string& why);
  void answer_bus_request(std::uint16_t type, std::uint32_t bus_corr, const LinkFrame& reply);

  ssl::context& client_tls() noexcept { return client_tls_; }
  bool stopping() const noexcept { return stopping_; }
  std::string metrics() const;

  const GatewayConfig& config;
  tools::Log& log;
  net::io_context ioc;
  GatewayStats stats;

 private:
  struct PendingIn {  // a peer's request, sent on the local bus
    std::weak_ptr<Link> link;
    std::uint32_t link_corr = 0;
    std::uint16_t type = 0;
    Clock::time_point deadline;
    std::string trace;
  };

  Result<void> setup_tls();
  Result<void> connect_bus();
  Result<void> listen();
  void accept_next();
  void arm_bus();
  void poll_bus();
  void on_bus_message(const Message& m);
  void on_tick();
  void stop(const char* why);

  ssl::context server_tls_;
  ssl::context client_tls_;
  Client bus_;
  net::posix::stream_descriptor bus_fd_;
  int bus_fd_number_ = -1;
  bool bus_waiting_ = false;
  bool bus_relinked_ = false;  // the Client lost or remade its connection since the last poll
  net::steady_timer tick_;
  net::signal_set signals_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<MetricsServer> metrics_;
  std::map<std::string, std::unique_ptr<Pool>> pools_;
  std::unordered_map<std::uint16_t, std::pair<Route::Kind, Pool*>> routes_;
  std::set<std::uint16_t> accept_;
  std::set<std::shared_ptr<Link>> inbound_;
  std::unordered_map<std::uint32_t, PendingIn> pending_in_;
  bool stopping_ = false;
  Clock::time_point stop_by_{};
  int exit_code_ = 0;
};

// ----------------------------------------------------------------------- WsLink<Stream>

template <class Stream>
constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

// The transport: a WebSocket over TCP (Stream = beast::tcp_stream) or over TLS
// (beast::ssl_stream<beast::tcp_stream>), accepted (`inbound`) or connected.
template <class Stream>
class WsLink final : public Link {
 public:
  // Inbound: over an accepted socket.
  WsLink(Gateway& g, tcp::socket socket, ssl::context* tls)
      : Link(g, endpoint_text(socket), nullptr), ws_(make_stream(std::move(socket), tls)) {}
  // Outbound: to `pool`'s upstream.
  WsLink(Gateway& g, Pool& pool, ssl::context* tls)
      : Link(g, pool.upstream().name, &pool),
        ws_(make_stream(tcp::socket(g.ioc), tls)),
        resolver_(g.ioc) {}

  void start() override {
    if (pool_ == nullptr) {
      accept();
    } else {
      connect();
    }
  }

 private:
  static std::string endpoint_text(const tcp::socket& s) {
    beast::error_code ec;
    const auto ep = s.remote_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  static websocket::stream<Stream> make_stream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls<Stream>) {
      return websocket::stream<Stream>(beast::tcp_stream(std::move(socket)), *tls);
    } else {
      (void)tls;
      return websocket::stream<Stream>(std::move(socket));
    }
  }
  std::shared_ptr<WsLink> self() { return std::static_pointer_cast<WsLink>(shared_from_this()); }
  SSL* ssl_handle() {
    if constexpr (kTls<Stream>) {
      return ws_.next_layer().native_handle();
    } else {
      return nullptr;
    }
  }

  void set_options() {
    const GatewayConfig& c = g_.config;
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = c.connect_timeout;
    t.idle_timeout = c.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(c.max_message_bytes);
    ws_.binary(true);
    ws_.auto_fragment(false);
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::pong) on_pong();
    });
  }

  // ---- inbound: TLS, the HTTP Upgrade (checked), then the WebSocket
  // Frames go out at once: without TCP_NODELAY, Nagle holds a small frame while an earlier
  // one is unacknowledged, and the peer's delayed ACK makes that up to 40 ms.
  void no_delay() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
  }

  void accept() {
    no_delay();
    beast::get_lowest_layer(ws_).expires_after(g_.config.connect_timeout);
    if constexpr (kTls<Stream>) {
      ws_.next_layer().async_handshake(
          ssl::stream_base::server, [self = self()](const beast::error_code& ec) {
            if (ec) return self->on_failed(tls_failure(self->ssl_handle(), ec));
            if (auto refused = self->client_refused(); !refused.empty()) {
              return self->refuse(http::status::forbidden, refused);
            }
            self->read_upgrade();
          });
    } else {
      read_upgrade();
    }
  }

  // The client certificate against tls_client_allow: "" when accepted, else why not.
  std::string client_refused() {
    const auto& allow = g_.config.tls_client_allow;
    if (allow.empty()) return {};
    X509* cert = SSL_get1_peer_certificate(ssl_handle());
    if (cert == nullptr) return "no client certificate";
    std::vector<std::string> ids;
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
      ids.push_back(std::string("CN=") + cn);
    }
    auto* names =
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_DNS) {
        const auto* s = ASN1_STRING_get0_data(n->d.dNSName);
        ids.push_back("DNS:" +
                      std::string(reinterpret_cast<const char*>(s),  // NOLINT
                                  static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName))));
      }
    }
    GENERAL_NAMES_free(names);
    X509_free(cert);
    for (const std::string& id : ids) {
      if (std::find(allow.begin(), allow.end(), id) != allow.end()) return {};
    }
    std::string seen;
    for (const std::string& id : ids) seen += (seen.empty() ? "" : ", ") + id;
    return "client certificate (" + seen + ") is not in tls_client_allow";
  }

  void read_upgrade() {
    http::async_read(ws_.next_layer(), buffer_, request_,
                     [self = self()](const beast::error_code& ec, std::size_t) {
                       if (ec) return self->on_failed("reading the Upgrade: " + text_of(ec));
                       self->check_upgrade();
                     });
  }

  void check_upgrade() {
    if (!websocket::is_upgrade(request_)) {
      return refuse(http::status::bad_request, "not a WebSocket Upgrade");
    }
    const auto offered = request_[http::field::sec_websocket_protocol];
    bool has = false;
    for (std::size_t at = 0; at <= offered.size();) {
      std::size_t end = offered.find(',', at);
      if (end == beast::string_view::npos) end = offered.size();
      beast::string_view word = offered.substr(at, end - at);
      while (!word.empty() && word.front() == ' ') word.remove_prefix(1);
      while (!word.empty() && word.back() == ' ') word.remove_suffix(1);
      has |= word == beast::string_view(kSubprotocol.data(), kSubprotocol.size());
      at = end + 1;
    }
    if (!has) {
      return refuse(http::status::bad_request,
                    "the Upgrade does not offer the subprotocol ferry.v1 "
                    "(Sec-WebSocket-Protocol: ferry.v1)");
    }
    const auto& origins = g_.config.allow_origins;
    const auto origin = request_[http::field::origin];
    if (!origins.empty() &&
        std::find(origins.begin(), origins.end(), std::string(origin)) == origins.end()) {
      return refuse(http::status::forbidden, "Origin '" + std::string(origin) + "' is not allowed");
    }
    set_options();
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
      res.set(http::field::server, "ferry-gateway");
    }));
    ws_.async_accept(request_, [self = self()](const beast::error_code& ec) {
      if (ec) return self->on_failed("WebSocket accept: " + text_of(ec));
      self->begin();
    });
  }

  void refuse(http::status status, const std::string& why) {
    g_.log.limited(LogLevel::warn, "listener", "refused", 0, "refused a connection: " + why,
                   {{"peer", peer_}});
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "ferry-gateway");
    res->set(http::field::content_type, "text/plain");
    res->body() = why + "\n";
    res->prepare_payload();
    res->keep_alive(false);
    http::async_write(
        ws_.next_layer(), *res,
        [self = self(), res, why](const beast::error_code&, std::size_t) { self->on_failed(why); });
  }

  // ---- outbound: resolve, TCP, TLS, the Upgrade
  void connect() {
    const Upstream& up = pool_->upstream();
    beast::get_lowest_layer(ws_).expires_after(g_.config.connect_timeout);
    if (const auto* known = pool_->endpoints(Clock::now())) return tcp_connect(*known);
    resolver_->async_resolve(
        up.host, up.port,
        [self = self()](const beast::error_code& ec, const tcp::resolver::results_type& found) {
          if (ec) return self->connect_failed("cannot resolve: " + text_of(ec));
          self->pool_->keep_endpoints(found);
          self->tcp_connect(found);
        });
  }

  void tcp_connect(const tcp::resolver::results_type& endpoints) {
    beast::get_lowest_layer(ws_).async_connect(
        endpoints, [self = self()](const beast::error_code& e, const tcp::endpoint&) {
          if (e) return self->connect_failed("cannot connect: " + text_of(e));
          self->no_delay();
          self->tls_handshake();
        });
  }

  void tls_handshake() {
    if constexpr (kTls<Stream>) {
      const std::string& host = pool_->upstream().host;
      SSL* ssl = ssl_handle();
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(host.c_str()));  // SSL_set_tlsext_host_name, without its cast
      SSL_set1_host(ssl, host.c_str());
      SSL_set_ex_data(ssl, pool_index(), pool_);
      if (pool_->tls_session() != nullptr) SSL_set_session(ssl, pool_->tls_session());
      ws_.next_layer().async_handshake(
          ssl::stream_base::client, [self = self()](const beast::error_code& ec) {
            if (ec) return self->connect_failed(tls_failure(self->ssl_handle(), ec));
            if (SSL_session_reused(self->ssl_handle()) == 1) ++self->pool_->stats.resumed;
            self->upgrade();
          });
    } else {
      upgrade();
    }
  }

  void upgrade() {
    set_options();
    const Upstream& up = pool_->upstream();
    const bool raw = up.raw;
    ws_.set_option(websocket::stream_base::decorator([raw](websocket::request_type& req) {
      if (!raw) req.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
      req.set(http::field::user_agent, "ferry-gateway");
    }));
    ws_.async_handshake(
        response_, up.host + ":" + up.port, up.target,
        [self = self(), raw](const beast::error_code& ec) {
          if (ec == websocket::error::upgrade_declined) {
            std::string body = self->response_.body();
            while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
            return self->connect_failed("the upstream refused the Upgrade: HTTP " +
                                        std::to_string(self->response_.result_int()) +
                                        (body.empty() ? "" : ": " + body));
          }
          if (ec && ec.category() == net::error::get_ssl_category()) {
            return self->connect_failed(tls_failure(self->ssl_handle(), ec));
          }
          if (ec) return self->connect_failed("the WebSocket Upgrade failed: " + text_of(ec));
          if (!raw && self->response_[http::field::sec_websocket_protocol] !=
                          beast::string_view(kSubprotocol.data(), kSubprotocol.size())) {
            return self->connect_failed(
                "the upstream does not speak ferry.v1 (no such subprotocol in "
                "its answer; raw=TYPE for a service that does not)");
          }
          self->begin();
        });
  }

  void connect_failed(const std::string& why) {
    state_ = State::closed;
    pool_->on_connect_failed(why);
    on_failed(why);
  }

  // ---- open
  void begin() {
    on_open();
    if (state_ != State::closed) read();
  }

  void read() {
    ws_.async_read(buffer_, [self = self()](const beast::error_code& ec, std::size_t) {
      if (ec) {
        const bool closed = ec == websocket::error::closed;
        std::string why = closed ? "closed by the peer" : text_of(ec);
        if (closed && !self->ws_.reason().reason.empty()) {
          why += ": " +
                 std::string(self->ws_.reason().reason.data(), self->ws_.reason().reason.size());
        }
        if (ec == websocket::error::message_too_big) {
          why = "a message over max_message_bytes (" +
                std::to_string(self->g_.config.max_message_bytes) + ")";
        }
        return self->on_failed(why);
      }
      const auto data = self->buffer_.cdata();
      self->on_message(std::span(static_cast<const std::byte*>(data.data()), data.size()),
                       self->ws_.got_text());
      self->buffer_.consume(self->buffer_.size());
      if (self->state_ != State::closed) self->read();
    });
  }

  void write_next() override {
    if (writing_ || out_.empty() || state_ == State::closed || state_ == State::connecting) return;
    writing_ = true;
    ws_.async_write(net::buffer(out_.front()),
                    [self = self()](const beast::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) return self->on_failed("writing: " + text_of(ec));
                      self->queued_ -= std::min(self->queued_, self->out_.front().size());
                      self->out_.pop_front();
                      self->on_written();
                    });
  }

  void close_transport(websocket::close_reason reason) override {
    if (closing_) return;
    closing_ = true;
    if (!ws_.is_open()) {  // still connecting or upgrading: stop that
      beast::error_code ignored;
      if (resolver_) resolver_->cancel();
      beast::get_lowest_layer(ws_).socket().close(ignored);
      return;
    }
    ws_.async_close(reason, [self = self()](const beast::error_code&) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
  }

  void ping() override {
    ws_.async_ping({}, [self = self()](const beast::error_code& ec) {
      if (ec) self->on_failed("ping: " + text_of(ec));
    });
  }

  websocket::stream<Stream> ws_;
  std::optional<tcp::resolver> resolver_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  websocket::response_type response_;
  bool closing_ = false;
};

using PlainLink = WsLink<beast::tcp_stream>;
using TlsLink = WsLink<beast::ssl_stream<beast::tcp_stream>>;

// ------------------------------------------------------------------ Link, the protocol

bool Link::raw() const noexcept {
  return pool_ != nullptr && pool_->upstream().raw;
}

void Link::send(std::uint16_t type, std::uint8_t flags, std::uint32_t correlation,
                std::span<const std::byte> payload, std::string_view traceparent) {
  if (state_ == State::closed) return;
  last_used_ = Clock::now();
  if (type < kFirstLinkType) {
    ++g_.stats.frames_out;
    g_.stats.bytes_out += payload.size();
  }
  if (raw()) {
    out_.emplace_back(payload.begin(), payload.end());
    queued_ += payload.size();
  } else {
    // Frames join the message not yet being written (one WebSocket message, many frames).
    if (out_.empty() || (writing_ && out_.size() == 1)) out_.emplace_back();
    const std::size_t before = out_.back().size();
    if (!traceparent.empty()) writer_.append(out_.back(), kTraceType, 0, 0, as_bytes(traceparent));
    writer_.append(out_.back(), type, flags, correlation, payload);
    queued_ += out_.back().size() - before;
  }
  if (queued_ > g_.config.queue_bytes) {
    ++g_.stats.cut_off;
    close("the peer is too slow: " + std::to_string(queued_) + " bytes wait to be written " +
              "(queue_bytes " + std::to_string(g_.config.queue_bytes) + ")",
          websocket::close_code::try_again_later);
    return;
  }
  write_next();
}

std::uint32_t Link::request(std::uint16_t type, std::span<const std::byte> payload,
                            Outstanding what) {
  if (next_correlation_ == 0) next_correlation_ = 1;
  const std::uint32_t corr = next_correlation_++;
  const std::string trace = what.trace;
  outstanding_.emplace(corr, std::move(what));
  send(type, 0, corr, payload, trace);
  return corr;
}

void Link::drain(std::string_view reason) {
  if (state_ != State::open) return;
  state_ = State::draining;
  if (!raw()) send(kGoawayType, 0, 0, as_bytes(reason));
  if (outstanding_.empty()) close(std::string(reason), websocket::close_code::going_away);
}

void Link::close(const std::string& reason, websocket::close_code code) {
  if (state_ == State::closed) return;
  const auto keep = shared_from_this();  // the gateway lets go of it below
  state_ = State::closed;
  websocket::close_reason r(code);
  r.reason = reason.substr(0, 120);
  close_transport(r);
  on_link_gone_once(reason);
}

void Link::on_open() {
  if (state_ == State::closed) return;  // closed while it connected
  state_ = State::open;
  opened_at_ = Clock::now();
  last_used_ = opened_at_;
  if (!raw()) {
    reader_.emplace(g_.config.max_message_bytes);
    send(kHelloType, 0, 0, as_bytes(hello_payload(g_.config.node, g_.config.max_message_bytes)));
  }
  g_.log.write(LogLevel::info, "link", "open", pool_ ? "connected to upstream" : "peer connected",
               {{"peer", peer_}});
  if (pool_ != nullptr) pool_->on_link_open(opened_at_ - created_at_);
  write_next();
}

void Link::on_message(std::span<const std::byte> bytes, bool text) {
  last_used_ = Clock::now();
  if (raw()) return g_.on_raw_message(*this, bytes);
  if (text) {
    return close("a text message: ferry.v1 carries binary messages only",
                 websocket::close_code::unknown_data);
  }
  auto r = reader_->read(bytes, [&](const LinkFrame& f) -> Result<void> {
    if (!got_hello_) {
      if (f.header.type != kHelloType) {
        return Error(Errc::invalid_argument, "the first frame is not a hello");
      }
      auto hello = parse_hello(f.text());
      if (!hello) return hello.error();
      got_hello_ = true;
      g_.log.write(LogLevel::debug, "link", "hello", "the peer said hello",
                   {{"peer", peer_}, {"node", hello->node}});
      return {};
    }
    if (f.header.type == kTraceType) {
      if (!is_traceparent(f.text())) return Error(Errc::invalid_argument, "a bad trace frame");
      pending_trace_ = std::string(f.text());
      return {};
    }
    if (f.header.type == kGoawayType) {
      if (state_ == State::open) state_ = State::draining;
      if (pool_ != nullptr) pool_->maintain(Clock::now());
      return {};
    }
    if (f.header.type == kHelloType) return Error(Errc::invalid_argument, "a second hello");
    if (f.header.type >= kReservedTypes) {
      return Error(Errc::invalid_argument,
                   "message type " + std::to_string(f.header.type) + " is reserved");
    }
    std::string trace = std::move(pending_trace_);
    pending_trace_.clear();
    return g_.on_frame(*this, f, trace);
  });
  if (!r) {
    ++g_.stats.protocol_errors;
    close("protocol error: " + r.error().message(), websocket::close_code::protocol_error);
  }
}

void Link::on_written() {
  if (state_ == State::draining && outstanding_.empty() && out_.empty()) {
    close("drained", websocket::close_code::going_away);
    return;
  }
  write_next();
}

void Link::on_pong() {
  ping_sent_.reset();
  failed_pings_ = 0;
}

void Link::health_check(Clock::time_point now, bool ping_round) {
  if (state_ != State::open && state_ != State::draining) return;
  const GatewayConfig& c = g_.config;
  if (ping_sent_ && now - *ping_sent_ >= c.ping_timeout) {
    ++failed_pings_;
    ping_sent_.reset();
    if (pool_ != nullptr) ++pool_->stats.ping_failures;
    if (failed_pings_ >= c.eject_after) {
      if (pool_ != nullptr) ++pool_->stats.ejections;
      close("no pong to " + std::to_string(failed_pings_) + " pings in a row (ping_timeout_ms " +
                std::to_string(c.ping_timeout.count()) + "): ejected",
            websocket::close_code::going_away);
      return;
    }
  }
  if (ping_round && !ping_sent_) {
    ping_sent_ = now;
    ping();
  }
}

void Link::on_failed(const std::string& why) {
  if (gone_) return;
  const auto keep = shared_from_this();
  state_ = State::closed;
  on_link_gone_once(why);
}

void Link::on_link_gone_once(const std::string& why) {
  if (gone_) return;
  gone_ = true;
  g_.on_link_gone(*this, why);
}

// ------------------------------------------------------------------------------- Pool

std::shared_ptr<Link> Pool::pick(bool for_request) {
  std::shared_ptr<Link> best;
  for (const auto& l : links_) {
    if (l->state() != Link::State::open) continue;
    // Publications all take the oldest open link, so that they keep their order.
    if (!for_request) return l;
    if (l->inflight() >= g_.config.pool_max_inflight) continue;
    if (up_.raw && l->inflight() > 0) continue;  // raw: one request at a time
    if (!best || l->inflight() < best->inflight() ||
        (l->inflight() == best->inflight() && l->queued_bytes() < best->queued_bytes())) {
      best = l;
    }
  }
  return best;
}

void Pool::publish(std::uint16_t type, std::span<const std::byte> payload) {
  if (auto link = pick(false)) return link->send(type, 0, 0, payload);
  if (connect_failures_ >= kDownAfter) {
    ++g_.stats.dropped_no_upstream;
    g_.log.limited(LogLevel::warn, "pool", "dropped", 0,
                   "upstream is down: a publication was dropped",
                   {{"upstream", up_.name}, {"type", std::int64_t{type}}});
    return;
  }
  if (waiting_.size() >= kMaxWaiting) {
    ++g_.stats.dropped_no_upstream;
    g_.log.limited(LogLevel::warn, "pool", "dropped", 1,
                   "too many messages wait for the upstream: a publication was dropped",
                   {{"upstream", up_.name}, {"type", std::int64_t{type}}});
    return;
  }
  waiting_.push_back(Waiting{false, type, {payload.begin(), payload.end()}, 0, {}, Clock::now()});
  maintain(Clock::now());
}

void Pool::request(std::uint16_t type, std::span<const std::byte> payload, std::uint32_t bus_corr,
                   std::string trace) {
  Waiting w{true, type, {payload.begin(), payload.end()}, bus_corr, std::move(trace), Clock::now()};
  if (auto link = pick(true)) return send_request(link, w, true);
  if (connect_failures_ >= kDownAfter) {
    return fail(type, bus_corr, "upstream " + up_.name + " is down: " + last_failure_);
  }
  if (waiting_.size() >= kMaxWaiting) {
    return fail(type, bus_corr, "too many requests wait for upstream " + up_.name);
  }
  waiting_.push_back(std::move(w));
  maintain(Clock::now());
}

void Pool::send_request(const std::shared_ptr<Link>& link, Waiting& w, bool reused_link) {
  ++stats.requests;
  if (reused_link) ++stats.reused;
  Link::Outstanding what{w.type, w.bus_corr, Clock::now() + g_.config.request_timeout,
                         w.trace.empty() ? new_traceparent() : w.trace};
  g_.log.write(
      LogLevel::debug, "pool", "request", "a request goes to the upstream",
      {{"upstream", up_.name}, {"type", std::int64_t{w.type}}, {"trace_id", trace_id(what.trace)}});
  link->request(w.type, w.payload, std::move(what));
}

void Pool::place_waiting() {
  while (!waiting_.empty()) {
    Waiting& w = waiting_.front();
    auto link = pick(w.is_request);
    if (!link) return;
    if (w.is_request) {
      send_request(link, w, false);
    } else {
      link->send(w.type, 0, 0, w.payload);
    }
    waiting_.pop_front();
  }
}

void Pool::fail_waiting(const std::string& why) {
  for (Waiting& w : waiting_) {
    if (w.is_request) fail(w.type, w.bus_corr, why);
  }
  waiting_.clear();
}

void Pool::fail(std::uint16_t type, std::uint32_t bus_corr, const std::string& why) {
  ++stats.requests_failed;
  g_.fail_bus_request(type, bus_corr, why);
}

PoolView Pool::view() const {
  PoolView v;
  v.upstream = up_.name;
  for (const auto& l : links_) {
    switch (l->state()) {
      case Link::State::open:
        ++v.open;
        if (l->inflight() > 0) ++v.busy;
        break;
      case Link::State::connecting: ++v.connecting; break;
      case Link::State::draining: ++v.draining; break;
      case Link::State::closed: break;
    }
  }
  v.waiting = waiting_.size();
  v.up = connect_failures_ < kDownAfter;
  v.stats = &stats;
  return v;
}

void Pool::open_link() {
  std::shared_ptr<Link> link;
  if (up_.tls) {
    link = std::make_shared<TlsLink>(g_, *this, &g_.client_tls());
  } else {
    link = std::make_shared<PlainLink>(g_, *this, nullptr);
  }
  links_.push_back(link);
  link->start();
}

void Pool::maintain(Clock::time_point now) {
  if (g_.stopping()) return;
  const GatewayConfig& c = g_.config;
  std::size_t usable = 0;
  std::size_t connecting = 0;
  bool all_busy = true;
  // Drained after the walk: a drain may close a link, which removes it from links_. (The
  // walk runs every tick over every link, so it copies nothing.)
  std::vector<std::pair<std::shared_ptr<Link>, const char*>> to_drain;
  for (const auto& l : links_) {
    if (l->state() == Link::State::connecting) ++connecting;
    if (l->state() != Link::State::open) continue;
    ++usable;
    if (l->inflight() < c.pool_max_inflight) all_busy = false;
    // Renewed after about max_lifetime (±10%, drawn once per link, so that a pool's links
    // do not all go at once).
    if (l->renew_at() == Clock::time_point{}) {
      const double jitter = 0.9 + 0.2 * std::uniform_real_distribution<double>(0, 1)(jitter_);
      l->set_renew_at(l->opened_at() +
                      std::chrono::duration_cast<Clock::duration>(c.max_lifetime * jitter));
    }
    if (now >= l->renew_at() && links_.size() < c.pool_max + 1) {
      to_drain.emplace_back(l, "max_lifetime reached");  // its replacement opens below first
      --usable;
      continue;
    }
    // Shrunk when idle beyond pool_min.
    if (usable > c.pool_min && l->inflight() == 0 && now - l->last_used() > c.pool_idle_timeout) {
      to_drain.emplace_back(l, "idle");
      --usable;
    }
  }
  for (const auto& [l, why] : to_drain) l->drain(why);
  const bool below_min = usable + connecting < c.pool_min;
  const bool want_more = below_min || (!waiting_.empty() && connecting == 0) ||
                         (all_busy && usable > 0 && connecting == 0);
  if (want_more && links_.size() < c.pool_max && now >= next_connect_) {
    std::size_t n = 1;
    if (below_min && connect_failures_ == 0) {
      n = std::min(c.pool_min - usable - connecting,
                   kMaxConnecting - std::min(connecting, kMaxConnecting));
    }
    for (n = std::min(n, c.pool_max - links_.size()); n > 0; --n) open_link();
  }
  place_waiting();
  // Requests that waited too long for a link.
  while (!waiting_.empty() && now - waiting_.front().since > c.request_timeout) {
    Waiting& w = waiting_.front();
    if (w.is_request) {
      fail(w.type, w.bus_corr,
           "no connection to upstream " + up_.name + " within " +
               std::to_string(c.request_timeout.count()) + " ms" +
               (last_failure_.empty() ? "" : ": " + last_failure_));
    }
    waiting_.pop_front();
  }
  const bool ping_round = now >= next_ping_round_;
  if (ping_round) next_ping_round_ = now + c.ping_interval;
  // From the back: an ejected link removes itself (only itself) from links_.
  for (std::size_t i = links_.size(); i-- > 0;) {
    Link& l = *links_[i];  // (a closing link keeps itself alive until it returns)
    // Requests the upstream did not answer in time (its reply, if it comes, is dropped).
    auto& out = l.outstanding();
    for (auto it = out.begin(); it != out.end();) {
      if (now < it->second.deadline) {
        ++it;
        continue;
      }
      fail(it->second.type, it->second.bus_correlation,
           "no reply from upstream " + up_.name + " within " +
               std::to_string(c.request_timeout.count()) + " ms");
      it = out.erase(it);
    }
    l.health_check(now, ping_round);
  }
}

void Pool::on_link_open(Clock::duration handshake) {
  ++stats.connects;
  stats.handshake.observe(std::chrono::duration<double>(handshake).count());
  if (connect_failures_ >= kDownAfter) {
    g_.log.write(LogLevel::info, "pool", "up", "upstream is reachable again",
                 {{"upstream", up_.name}});
  }
  connect_failures_ = 0;
  next_connect_ = {};
  place_waiting();
  maintain(Clock::now());  // the next connects while below pool_min
}

void Pool::on_connect_failed(const std::string& why) {
  endpoints_ = {};
  ++connect_failures_;
  ++stats.connect_failures;
  last_failure_ = why;
  const auto base = std::min<std::int64_t>(kMaxBackoff.count(),
                                           std::int64_t{50} << std::min(connect_failures_, 7u));
  const auto wait =
      milliseconds(std::uniform_int_distribution<std::int64_t>(base / 2, base)(jitter_));
  next_connect_ = Clock::now() + wait;
  g_.log.limited(LogLevel::warn, "pool", "connect_failed", std::hash<std::string>{}(up_.name),
                 "cannot connect to upstream: " + why,
                 {{"upstream", up_.name},
                  {"failures", std::uint64_t{connect_failures_}},
                  {"retry_ms", std::int64_t{wait.count()}}});
  if (connect_failures_ == kDownAfter) {
    g_.log.write(LogLevel::error, "pool", "down", "upstream is down: what waits for it fails",
                 {{"upstream", up_.name}, {"reason", why}});
    fail_waiting("upstream " + up_.name + " is down: " + why);
  }
}

void Pool::on_link_closed(Link* link, const std::string& why) {
  for (auto& [corr, o] : link->outstanding()) {
    fail(
        o.type, o.bus_correlation,
        "the connection to upstream " + up_.name + " was lost before the reply came (" + why + ")");
  }
  link->outstanding().clear();
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [&](const std::shared_ptr<Link>& l) { return l.get() == link; }),
               links_.end());
}

void Pool::drain_all() {
  for (const auto& l : std::vector(links_)) l->drain("the gateway is stopping");
  fail_waiting("the gateway is stopping");
}

// ---------------------------------------------------------------------------- Gateway

Result<void> Gateway::setup_tls() {
  const GatewayConfig& c = config;
  beast::error_code ec;
  const auto failed = [&](const std::string& what) {
    return Error(Errc::invalid_argument, what + ": " + ec.message());
  };
  for (ssl::context* ctx : {&server_tls_, &client_tls_}) {
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  }
  if (!c.listen.empty() && !c.plain) {
    server_tls_.use_certificate_chain_file(c.tls_cert, ec);
    if (ec) return failed("tls_cert " + c.tls_cert);
    server_tls_.use_private_key_file(c.tls_key, ssl::context::pem, ec);
    if (ec) return failed("tls_key " + c.tls_key);
    if (!c.tls_client_ca.empty()) {
      server_tls_.load_verify_file(c.tls_client_ca, ec);
      if (ec) return failed("tls_client_ca " + c.tls_client_ca);
      server_tls_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
  }
  // Resumption: servers take back sessions they issued (the id context is needed once
  // client certificates are verified); clients keep the newest ticket per upstream.
  static constexpr unsigned char kSessionContext[] = "ferry-gateway";
  SSL_CTX_set_session_id_context(server_tls_.native_handle(), kSessionContext,
                                 sizeof kSessionContext - 1);
  SSL_CTX_set_session_cache_mode(client_tls_.native_handle(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(client_tls_.native_handle(), [](SSL* ssl, SSL_SESSION* session) {
    auto* pool = static_cast<Pool*>(SSL_get_ex_data(ssl, pool_index()));
    if (pool == nullptr) return 0;
    pool->keep_tls_session(session);
    return 1;  // the pool holds the reference now
  });
  client_tls_.set_verify_mode(ssl::verify_peer);
  if (c.tls_ca.empty()) {
    client_tls_.set_default_verify_paths(ec);
  } else {
    client_tls_.load_verify_file(c.tls_ca, ec);
  }
  if (ec) return failed("tls_ca " + c.tls_ca);
  if (!c.tls_upstream_cert.empty()) {
    client_tls_.use_certificate_chain_file(c.tls_upstream_cert, ec);
    if (ec) return failed("tls_upstream_cert " + c.tls_upstream_cert);
    client_tls_.use_private_key_file(c.tls_upstream_key, ssl::context::pem, ec);
    if (ec) return failed("tls_upstream_key " + c.tls_upstream_key);
  }
  return {};
}

Result<void> Gateway::connect_bus() {
  ClientOptions o;
  o.endpoint = config.endpoint;
  o.session = config.session;
  o.name = "ferry-gateway";
  o.send_timeout = milliseconds(100);  // a full bus ring: drop and count, never block the loop
  // A lost or new connection to ferryd means a new descriptor (perhaps with the old number):
  // the armed wait is cancelled and the next poll registers the descriptor afresh.
  o.on_link = [this](const LinkEvent& event) {
    bus_relinked_ = true;
    log.write(event.kind == LinkEvent::Kind::lost ? LogLevel::warn : LogLevel::info, "bus",
              event.kind == LinkEvent::Kind::lost ? "lost" : "restored",
              event.kind == LinkEvent::Kind::lost ? "lost the local bus: " + event.reason
                                                  : "the local bus is back");
    net::post(ioc, [this] {
      if (bus_fd_.is_open()) bus_fd_.cancel();
    });
  };
  auto c = Client::connect(o);
  if (!c) return c.error();
  bus_ = std::move(*c);
  for (const Route& r : config.routes) {
    auto done = r.kind == Route::Kind::publish ? bus_.subscribe(r.type) : bus_.serve(r.type);
    if (!done) {
      return Error(done.code(),
                   std::string(r.kind == Route::Kind::publish ? "subscribe" : "serve") +
                       " to type " + std::to_string(r.type) + ": " + done.error().message());
    }
  }
  return {};
}

Result<void> Gateway::listen() {
  if (config.listen.empty()) return {};
  const std::size_t colon = config.listen.rfind(':');
  std::string host = config.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) return Error(Errc::invalid_argument, "listen " + config.listen + ": " + ec.message());
  const tcp::endpoint ep(address,
                         static_cast<std::uint16_t>(std::stoi(config.listen.substr(colon + 1))));
  acceptor_.emplace(ioc);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error(Errc::system, "cannot listen on " + config.listen + ": " + ec.message());
  accept_next();
  return {};
}

void Gateway::accept_next() {
  acceptor_->async_accept([this](const beast::error_code& ec, tcp::socket socket) {
    if (stopping_) return;
    if (!ec) {
      std::shared_ptr<Link> link;
      if (config.plain) {
        link = std::make_shared<PlainLink>(*this, std::move(socket), nullptr);
      } else {
        link = std::make_shared<TlsLink>(*this, std::move(socket), &server_tls_);
      }
      inbound_.insert(link);
      link->start();
    }
    accept_next();
  });
}

void Gateway::arm_bus() {
  if (stopping_ && pending_in_.empty()) return;
  const int fd = bus_.fd();
  if (fd < 0 || bus_waiting_) return;  // not connected: the tick polls (and reconnects)
  if (fd != bus_fd_number_) {
    if (bus_fd_.is_open()) (void)bus_fd_.release();
    bus_fd_.assign(fd);
    bus_fd_number_ = fd;
  }
  if (!bus_.prepare_wait()) {
    net::post(ioc, [this] { poll_bus(); });
    bus_waiting_ = true;
    return;
  }
  bus_waiting_ = true;
  bus_fd_.async_wait(net::posix::stream_descriptor::wait_read,
                     [this](const beast::error_code&) { poll_bus(); });
}

void Gateway::poll_bus() {
  bus_waiting_ = false;
  auto n = bus_.poll([this](const Message& m) { on_bus_message(m); }, 256);
  if (!n) {
    log.limited(LogLevel::warn, "bus", "poll_failed", 0, "the local bus: " + n.error().message());
  }
  // After a reconnect: let go of the old registration (the next arm_bus() makes a new one).
  if ((bus_relinked_ || bus_.fd() != bus_fd_number_) && bus_fd_.is_open()) {
    (void)bus_fd_.release();
    bus_fd_number_ = -1;
  }
  bus_relinked_ = false;
  arm_bus();
}

void Gateway::on_bus_message(const Message& m) {
  if (m.is_reply()) {  // to a peer's request we sent on the bus
    auto it = pending_in_.find(m.correlation);
    if (it == pending_in_.end()) return;  // it timed out already
    PendingIn p = std::move(it->second);
    pending_in_.erase(it);
    if (auto link = p.link.lock()) {
      link->send(p.type, static_cast<std::uint8_t>(m.flags & (wire::kFlagReply | wire::kFlagError)),
                 p.link_corr, m.payload);
    }
    return;
  }
  const auto route = routes_.find(m.type);
  if (route == routes_.end()) return;
  auto& [kind, pool] = route->second;
  if (m.is_request()) {
    if (stopping_) {
      (void)bus_.reply_error(m, "ferry-gateway " + config.node + " is stopping");
      return;
    }
    pool->request(m.type, m.payload, m.correlation, {});
  } else if (kind == Route::Kind::publish) {
    pool->publish(m.type, m.payload);
  }
}

void Gateway::fail_bus_request(std::uint16_t type, std::uint32_t bus_corr, const std::string& why) {
  Message m;
  m.type = type;
  m.correlation = bus_corr;
  (void)bus_.reply_error(m, why);
}

void Gateway::answer_bus_request(std::uint16_t type, std::uint32_t bus_corr,
                                 const LinkFrame& reply) {
  Message m;
  m.type = type;
  m.correlation = bus_corr;
  if (reply.is_error()) {
    (void)bus_.reply_error(m, reply.text());
  } else {
    (void)bus_.reply(m, reply.payload);
  }
}

Result<void> Gateway::on_frame(Link& link, const LinkFrame& f, const std::string& trace) {
  const std::uint16_t type = f.header.type;
  ++stats.frames_in;
  stats.bytes_in += f.payload.size();
  if (f.is_reply()) {
    auto& out = link.outstanding();
    auto it = out.find(f.header.correlation);
    if (it == out.end()) {
      ++stats.late_replies;  // its request timed out
      return {};
    }
    const Link::Outstanding o = std::move(it->second);
    out.erase(it);
    if (link.pool() != nullptr) {
      link.pool()->stats.rtt.observe(
          std::chrono::duration<double>(Clock::now() - o.sent_at).count());
    }
    answer_bus_request(o.type, o.bus_correlation, f);
    if (link.state() == Link::State::draining && out.empty()) {
      link.close("drained", websocket::close_code::going_away);
    }
    return {};
  }
  const bool accepted = accept_.contains(type);
  if (f.is_request()) {
    const std::string t = trace.empty() ? new_traceparent() : trace;
    if (!accepted || stopping_) {
      const std::string why = stopping_ ? "ferry-gateway " + config.node + " is stopping"
                                        : "message type " + std::to_string(type) +
                                              " is not accepted from peers by " + config.node;
      link.send(type, wire::kFlagReply | wire::kFlagError, f.header.correlation, as_bytes(why));
      return {};
    }
    auto corr = bus_.send_request(type, f.payload);
    if (!corr) {
      link.send(type, wire::kFlagReply | wire::kFlagError, f.header.correlation,
                as_bytes("the bus of " + config.node + ": " + corr.error().message()));
      return {};
    }
    log.write(LogLevel::debug, "link", "request", "a peer's request goes to the local bus",
              {{"peer", link.peer()}, {"type", std::int64_t{type}}, {"trace_id", trace_id(t)}});
    pending_in_[*corr] = PendingIn{link.weak_from_this(), f.header.correlation, type,
                                   Clock::now() + config.request_timeout, t};
    arm_bus();
    return {};
  }
  if (!accepted) {
    ++stats.dropped_not_accepted;
    log.limited(LogLevel::warn, "link", "not_accepted", type,
                "a publication of a type not accepted from peers was dropped",
                {{"peer", link.peer()}, {"type", std::int64_t{type}}});
    return {};
  }
  if (auto sent = bus_.send(type, f.payload); !sent) {
    ++stats.dropped_bus;
    log.limited(LogLevel::warn, "bus", "publish_failed", type,
                "a publication from a peer could not be published: " + sent.error().message(),
                {{"peer", link.peer()}, {"type", std::int64_t{type}}});
  }
  return {};
}

void Gateway::on_raw_message(Link& link, std::span<const std::byte> bytes) {
  ++stats.frames_in;
  stats.bytes_in += bytes.size();
  // A raw upstream's message: the answer to the oldest request waiting on this link, or a
  // publication of its configured type.
  auto& out = link.outstanding();
  if (!out.empty()) {
    auto it = out.begin();
    const Link::Outstanding o = std::move(it->second);
    out.erase(it);
    Message m;
    m.type = o.type;
    m.correlation = o.bus_correlation;
    (void)bus_.reply(m, bytes);
    return;
  }
  if (auto sent = bus_.send(link.pool()->upstream().raw_type, bytes); !sent) ++stats.dropped_bus;
}

void Gateway::on_link_gone(Link& link, const std::string& why) {
  log.write(LogLevel::info, "link", "closed", "connection closed: " + why, {{"peer", link.peer()}});
  if (link.pool() != nullptr) {
    link.pool()->on_link_closed(&link, why);
  } else {
    for (auto& [corr, o] : link.outstanding()) fail_bus_request(o.type, o.bus_correlation, why);
    link.outstanding().clear();
    for (auto it = inbound_.begin(); it != inbound_.end(); ++it) {
      if (it->get() == &link) {
        // Destroyed after this call's handlers let go of it.
        net::post(ioc, [keep = *it] {});
        inbound_.erase(it);
        break;
      }
    }
  }
}

void Gateway::on_tick() {
  const auto now = Clock::now();
  // Peers' requests that the bus did not answer in time.
  for (auto it = pending_in_.begin(); it != pending_in_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    if (auto link = it->second.link.lock()) {
      link->send(it->second.type, wire::kFlagReply | wire::kFlagError, it->second.link_corr,
                 as_bytes("no reply on the bus of " + config.node + " within " +
                          std::to_string(config.request_timeout.count()) + " ms"));
    }
    it = pending_in_.erase(it);
  }
  // The pools: connections to open or close, requests that waited too long, health checks.
  for (auto& [name, pool] : pools_) pool->maintain(now);
  // (Peers' connections are watched by the WebSocket idle timeout and its keep-alive ping;
  // each peer's own pool pings them too.)
  if (stopping_) {
    bool busy = !pending_in_.empty();
    for (auto& [name, pool] : pools_) busy |= pool->size() > 0;
    if (!busy || now >= stop_by_) {
      for (const auto& link : std::vector(inbound_.begin(), inbound_.end())) {
        link->close("the gateway stopped", websocket::close_code::going_away);
      }
      ioc.stop();
      return;
    }
  }
  // While a wait on the bus is armed it fires by itself (a message, or ferryd gone); without
  // one (the bus is down) the tick polls, which reconnects. (Polling with a wait armed would
  // arm a second one, and so on every tick.)
  if (!bus_waiting_) poll_bus();
  tick_.expires_after(kTick);
  tick_.async_wait([this](const beast::error_code& ec) {
    if (!ec) on_tick();
  });
}

void Gateway::stop(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  stop_by_ = Clock::now() + kDrain;
  log.write(LogLevel::info, "gateway", "stopping", std::string("stopping: ") + why);
  (void)tools::notify_service_manager("STOPPING=1");
  if (acceptor_) {
    beast::error_code ignored;
    acceptor_->close(ignored);
  }
  if (metrics_) metrics_->close();
  for (auto& [name, pool] : pools_) pool->drain_all();
  for (const auto& link : std::vector(inbound_.begin(), inbound_.end())) {
    link->drain("the gateway is stopping");
  }
}

std::string Gateway::metrics() const {
  GatewayStats g = stats;
  g.inbound = inbound_.size();
  std::vector<PoolView> views;
  for (const auto& [name, pool] : pools_) views.push_back(pool->view());
  return exposition(g, views);
}

int Gateway::run() {
  if (auto r = setup_tls(); !r) {
    log.write(LogLevel::error, "gateway", "config", r.error().message());
    return 1;
  }
  if (auto r = connect_bus(); !r) {
    log.write(LogLevel::error, "bus", "connect",
              "cannot use the local bus: " + r.error().message());
    return 3;
  }
  for (const Upstream& up : config.upstreams) {
    pools_.emplace(up.name, std::make_unique<Pool>(*this, up));
  }
  for (const Route& r : config.routes) routes_[r.type] = {r.kind, pools_.at(r.upstream).get()};
  accept_.insert(config.accept.begin(), config.accept.end());
  if (auto r = listen(); !r) {
    log.write(LogLevel::error, "listener", "listen", r.error().message());
    return 1;
  }
  std::string metrics_at;
  if (!config.metrics_listen.empty()) {
    metrics_.emplace(ioc, [this] { return metrics(); });
    auto at = metrics_->listen(config.metrics_listen);
    if (!at) {
      log.write(LogLevel::error, "metrics", "listen", at.error().message());
      return 1;
    }
    metrics_at = *at;
  }
  signals_.async_wait([this](const beast::error_code& ec, int sig) {
    if (!ec) stop(sig == SIGINT ? "SIGINT" : "SIGTERM");
  });
  std::string listening = "none";
  if (acceptor_) {
    const tcp::endpoint ep = acceptor_->local_endpoint();
    listening =
        (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) +
        ":" + std::to_string(ep.port());
  }
  log.write(LogLevel::info, "gateway", "started", "ferry-gateway is running",
            {{"node", config.node},
             {"listen", listening},
             {"metrics", metrics_at.empty() ? std::string_view("none") : metrics_at},
             {"bus", bus_.socket_path()}});
  // A Type=notify unit (and the tests) learn that it is ready, and where it listens (a
  // listen port of 0 picks a free one).
  (void)tools::notify_service_manager(
      "READY=1\nSTATUS=listening on " + listening +
      (metrics_at.empty() ? "" : ", metrics on http://" + metrics_at + "/metrics"));
  arm_bus();
  on_tick();
  ioc.run();
  if (bus_fd_.is_open()) (void)bus_fd_.release();
  log.write(LogLevel::info, "gateway", "stopped", "ferry-gateway stopped");
  return exit_code_;
}

}  // namespace

int run_gateway(const GatewayConfig& config, tools::Log& log) {
  Gateway g(config, log);
  return g.run();
}

}  // namespace ferry::gateway
