// SPDX-License-Identifier: Apache-2.0
// tools/gateway/metrics.cpp: the gateway's metrics and their HTTP endpoint (metrics.hpp).
#include "gateway/metrics.hpp"

#include <cinttypes>
#include <cstdio>
#include <optional>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ferry::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double seconds) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void line(std::string& out, std::string_view name, std::string_view labels, const std::string& v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += v;
  out += '\n';
}

void line(std::string& out, std::string_view name, std::string_view labels, std::uint64_t v) {
  line(out, name, labels, std::to_string(v));
}

void head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

void Histogram::write(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string sep = labels.empty() ? "" : std::string(labels) + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    line(out, std::string(name) + "_bucket", sep + "le=\"" + number(bounds_[i]) + "\"", cumulative);
  }
  line(out, std::string(name) + "_bucket", sep + "le=\"+Inf\"", count_);
  line(out, std::string(name) + "_sum", labels, number(sum_));
  line(out, std::string(name) + "_count", labels, count_);
}

std::string exposition(const GatewayStats& g, const std::vector<PoolView>& pools) {
  std::string out;
  const auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    head(out, name, "counter", help);
    line(out, name, "", v);
  };
  head(out, "ferry_gateway_frames_total", "counter", "ferry.v1 frames (or raw messages) carried");
  line(out, "ferry_gateway_frames_total", "direction=\"out\"", g.frames_out);
  line(out, "ferry_gateway_frames_total", "direction=\"in\"", g.frames_in);
  head(out, "ferry_gateway_bytes_total", "counter", "payload bytes carried");
  line(out, "ferry_gateway_bytes_total", "direction=\"out\"", g.bytes_out);
  line(out, "ferry_gateway_bytes_total", "direction=\"in\"", g.bytes_in);
  head(out, "ferry_gateway_dropped_total", "counter", "publications not carried, by reason");
  line(out, "ferry_gateway_dropped_total", "reason=\"not_accepted\"", g.dropped_not_accepted);
  line(out, "ferry_gateway_dropped_total", "reason=\"no_upstream\"", g.dropped_no_upstream);
  line(out, "ferry_gateway_dropped_total", "reason=\"bus\"", g.dropped_bus);
  counter("ferry_gateway_late_replies_total", "replies that came after their request timed out",
          g.late_replies);
  counter("ferry_gateway_protocol_errors_total", "connections closed for breaking ferry.v1",
          g.protocol_errors);
  counter("ferry_gateway_cut_off_total", "peers closed for not reading (queue_bytes)", g.cut_off);
  head(out, "ferry_gateway_inbound_connections", "gauge", "connections from peers");
  line(out, "ferry_gateway_inbound_connections", "", g.inbound);

  struct Family {
    const char* name;
    const char* type;
    const char* help;
  };
  const Family families[] = {
      {"ferry_gateway_pool_connections", "gauge", "pooled connections by state"},
      {"ferry_gateway_pool_waiting", "gauge", "messages waiting for a connection"},
      {"ferry_gateway_pool_up", "gauge", "1 while the upstream is reachable, 0 while it is down"},
      {"ferry_gateway_pool_requests_total", "counter", "requests sent to the upstream"},
      {"ferry_gateway_pool_reused_total", "counter",
       "requests sent on a connection that was already open"},
      {"ferry_gateway_pool_reuse_ratio", "gauge", "reused requests / requests"},
      {"ferry_gateway_pool_connects_total", "counter", "connects by result"},
      {"ferry_gateway_pool_tls_resumed_total", "counter",
       "connects whose TLS handshake resumed an earlier session"},
      {"ferry_gateway_pool_ping_failures_total", "counter",
       "health-check pings not answered in time"},
      {"ferry_gateway_pool_ejections_total", "counter", "connections closed by the health checks"},
      {"ferry_gateway_pool_requests_failed_total", "counter",
       "requests failed by the gateway (down, lost, timed out)"},
      {"ferry_gateway_pool_handshake_seconds", "histogram",
       "TCP, TLS and Upgrade of a new connection"},
      {"ferry_gateway_pool_request_seconds", "histogram",
       "a request's round trip through the upstream"},
  };
  for (const Family& f : families) {
    head(out, f.name, f.type, f.help);
    for (const PoolView& p : pools) {
      const PoolStats& s = *p.stats;
      const std::string up = "upstream=\"" + p.upstream + "\"";
      const std::string_view name = f.name;
      if (name == "ferry_gateway_pool_connections") {
        line(out, name, up + ",state=\"idle\"", p.open - p.busy);
        line(out, name, up + ",state=\"busy\"", p.busy);
        line(out, name, up + ",state=\"connecting\"", p.connecting);
        line(out, name, up + ",state=\"draining\"", p.draining);
      } else if (name == "ferry_gateway_pool_waiting") {
        line(out, name, up, p.waiting);
      } else if (name == "ferry_gateway_pool_up") {
        line(out, name, up, p.up ? 1 : 0);
      } else if (name == "ferry_gateway_pool_requests_total") {
        line(out, name, up, s.requests);
      } else if (name == "ferry_gateway_pool_reused_total") {
        line(out, name, up, s.reused);
      } else if (name == "ferry_gateway_pool_reuse_ratio") {
        line(out, name, up,
             number(s.requests == 0
                        ? 1.0
                        : static_cast<double>(s.reused) / static_cast<double>(s.requests)));
      } else if (name == "ferry_gateway_pool_connects_total") {
        line(out, name, up + ",result=\"ok\"", s.connects);
        line(out, name, up + ",result=\"failed\"", s.connect_failures);
      } else if (name == "ferry_gateway_pool_tls_resumed_total") {
        line(out, name, up, s.resumed);
      } else if (name == "ferry_gateway_pool_ping_failures_total") {
        line(out, name, up, s.ping_failures);
      } else if (name == "ferry_gateway_pool_ejections_total") {
        line(out, name, up, s.ejections);
      } else if (name == "ferry_gateway_pool_requests_failed_total") {
        line(out, name, up, s.requests_failed);
      } else if (name == "ferry_gateway_pool_handshake_seconds") {
        s.handshake.write(out, name, up);
      } else {
        s.rtt.write(out, name, up);
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------- the HTTP endpoint

struct MetricsServer::Impl {
  Impl(net::io_context& c, std::function<std::string()> r) : ioc(c), render(std::move(r)) {}

  struct Exchange : std::enable_shared_from_this<Exchange> {
    Exchange(tcp::socket s, Impl& i) : stream(std::move(s)), impl(i) {}
    void start() {
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(stream, buffer, request,
                       [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
                         if (!ec) self->answer();
                       });
    }
    void answer() {
      const bool found = request.method() == http::verb::get && request.target() == "/metrics";
      response.result(found ? http::status::ok : http::status::not_found);
      response.version(request.version());
      response.set(http::field::server, "ferry-gateway");
      response.set(http::field::content_type,
                   found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
      response.body() = found ? impl.render() : "ferry-gateway serves /metrics only\n";
      response.keep_alive(false);
      response.prepare_payload();
      http::async_write(stream, response,
                        [self = shared_from_this()](const beast::error_code&, std::size_t) {
                          beast::error_code ignored;
                          self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        });
    }
    beast::tcp_stream stream;
    Impl& impl;
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    http::response<http::string_body> response;
  };

  void accept() {
    acceptor->async_accept([this](const beast::error_code& ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) std::make_shared<Exchange>(std::move(socket), *this)->start();
      accept();
    });
  }

  net::io_context& ioc;
  std::function<std::string()> render;
  std::optional<tcp::acceptor> acceptor;
};

MetricsServer::MetricsServer(net::io_context& ioc, std::function<std::string()> render)
    : impl_(std::make_unique<Impl>(ioc, std::move(render))) {}

MetricsServer::~MetricsServer() = default;

Result<std::string> MetricsServer::listen(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const auto ip = net::ip::make_address(host, ec);
  if (ec) return Error(Errc::invalid_argument, "metrics_listen " + address + ": " + ec.message());
  const tcp::endpoint ep(ip, static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  auto& a = impl_->acceptor.emplace(impl_->ioc);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Error(Errc::system, "cannot serve metrics on " + address + ": " + ec.message());
  impl_->accept();
  const tcp::endpoint bound = a.local_endpoint(ec);
  return bound.address().to_string() + ":" + std::to_string(bound.port());
}

void MetricsServer::close() {
  if (impl_->acceptor) {
    beast::error_code ignored;
    impl_->acceptor->close(ignored);
  }
}

}  // namespace ferry::gateway
