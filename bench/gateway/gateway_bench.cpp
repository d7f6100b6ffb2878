// SPDX-License-Identifier: Apache-2.0
// bench/gateway/gateway_bench.cpp: the participants of the gateway benchmark
// (bench/scripts/gateway.sh, docs/gateway.md "Benchmarks"), one program in four roles:
//
//   echo-server --cert C --key K          a plain Boost.Beast TLS WebSocket echo on
//                                         127.0.0.1 (a free port, printed), the baseline
//   echo-client --port P --ca CA [--connections N] [--seconds S] [--size B]
//                                         closed loops against it, one per connection
//   bus-echo --session S --type T         a ferry::Client serving T, echoing each payload
//   bus-client --session S --type T [--clients N] [--seconds S] [--size B] [--swing-ms P]
//                                         closed-loop requesters, one thread and Client each;
//                                         with --swing-ms all but one pause every other P ms
//                                         (the load swings between 1 and N requesters)
//   connect --port P --ca CA [--count N] [--resume] [--ferry TYPE] [--size B]
//                                         N new connections one after another, each timed
//                                         from the TCP connect to the first reply: to the
//                                         echo, or with --ferry to a gateway (ferry.v1: hello
//                                         and a request of TYPE); --resume offers the TLS
//                                         session of the connection before
//
// The clients print one JSON line: {"msgs":..,"msgs_per_s":..,"p50_us":..,"p99_us":..}
// (connect adds "resumed", the connections whose TLS session was resumed).
// Thread-safety: each role owns its process; the clients' threads share nothing but the
// result they add at the end (under a mutex).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>  // (before Boost 1.74's Asio, which uses std::exchange without it)
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "ferry/client.hpp"
#include "gateway/link.hpp"
#include "shared/results.hpp"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Wss = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

std::string arg(int argc, char** argv, std::string_view name, std::string fallback = {}) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return fallback;
}
bool flag(int argc, char** argv, std::string_view name) {
  for (int i = 2; i < argc; ++i) {
    if (argv[i] == name) return true;
  }
  return false;
}

using Results = ferry::bench::Results;

// ------------------------------------------------------------------- the WebSocket echo

class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  EchoSession(tcp::socket socket, ssl::context& tls) : ws_(std::move(socket), tls) {
    beast::error_code ignored;  // as the gateway does: no Nagle delay on small messages
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
  }
  void start() {
    ws_.next_layer().async_handshake(ssl::stream_base::server,
                                     [self = shared_from_this()](const beast::error_code& ec) {
                                       if (!ec) self->accept();
                                     });
  }

 private:
  void accept() {
    ws_.async_accept([self = shared_from_this()](const beast::error_code& ec) {
      if (!ec) self->read();
    });
  }
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](const beast::error_code& ec, std::size_t) {
      if (ec) return;
      self->ws_.binary(true);
      self->ws_.async_write(self->buffer_.data(), [self](const beast::error_code& e, std::size_t) {
        if (e) return;
        self->buffer_.consume(self->buffer_.size());
        self->read();
      });
    });
  }
  Wss ws_;
  beast::flat_buffer buffer_;
};

int echo_server(int argc, char** argv) {
  net::io_context ioc;
  ssl::context tls(ssl::context::tls_server);
  tls.use_certificate_chain_file(arg(argc, argv, "--cert"));
  tls.use_private_key_file(arg(argc, argv, "--key"), ssl::context::pem);
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::printf("listening on 127.0.0.1:%u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  std::function<void()> accept = [&] {
    acceptor.async_accept([&](const beast::error_code& ec, tcp::socket socket) {
      if (!ec) std::make_shared<EchoSession>(std::move(socket), tls)->start();
      accept();
    });
  };
  accept();
  ioc.run();
  return 0;
}

int echo_client(int argc, char** argv) {
  const std::string port = arg(argc, argv, "--port");
  const int connections = std::atoi(arg(argc, argv, "--connections", "1").c_str());
  const double seconds = std::atof(arg(argc, argv, "--seconds", "5").c_str());
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  ssl::context tls(ssl::context::tls_client);
  tls.load_verify_file(arg(argc, argv, "--ca"));
  tls.set_verify_mode(ssl::verify_peer);
  Results results;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      try {
        net::io_context ioc;
        tcp::resolver resolver(ioc);
        Wss ws(ioc, tls);
        beast::get_lowest_layer(ws).connect(resolver.resolve("localhost", port));
        beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
        ws.next_layer().handshake(ssl::stream_base::client);
        ws.handshake("localhost:" + port, "/");
        ws.binary(true);
        const std::string payload(size, 'x');
        beast::flat_buffer buffer;
        std::vector<double> mine;
        while (Clock::now() < end) {
          const auto t0 = Clock::now();
          ws.write(net::buffer(payload));
          ws.read(buffer);
          mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
          buffer.consume(buffer.size());
        }
        results.add(mine);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "echo-client: %s\n", e.what());
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  results.print(seconds);
  return 0;
}

// One new connection after another, each timed from the TCP connect to its first reply.
int connect_loop(int argc, char** argv) {
  const std::string port = arg(argc, argv, "--port");
  const int count = std::atoi(arg(argc, argv, "--count", "200").c_str());
  const bool resume = flag(argc, argv, "--resume");
  const std::string ferry_type = arg(argc, argv, "--ferry");
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  ssl::context tls(ssl::context::tls_client);
  tls.load_verify_file(arg(argc, argv, "--ca"));
  tls.set_verify_mode(ssl::verify_peer);
  // TLS 1.3 tickets come after the handshake: a client cache keeps them for the next one.
  SSL_CTX_set_session_cache_mode(tls.native_handle(), SSL_SESS_CACHE_CLIENT);
  net::io_context ioc;
  const auto endpoints = tcp::resolver(ioc).resolve("localhost", port);
  const std::vector<std::byte> payload(size, std::byte{'x'});
  Results results;
  std::vector<double> mine;
  SSL_SESSION* session = nullptr;
  int resumed = 0;
  const auto begin = Clock::now();
  for (int i = 0; i < count; ++i) {
    const auto t0 = Clock::now();
    Wss ws(ioc, tls);
    beast::get_lowest_layer(ws).connect(endpoints);
    beast::get_lowest_layer(ws).socket().set_option(tcp::no_delay(true));
    SSL* ssl = ws.next_layer().native_handle();
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>("localhost"));  // SSL_set_tlsext_host_name, without its cast
    if (resume && session != nullptr) SSL_set_session(ssl, session);
    ws.next_layer().handshake(ssl::stream_base::client);
    if (SSL_session_reused(ssl) == 1) ++resumed;
    ws.binary(true);
    beast::flat_buffer buffer;
    if (ferry_type.empty()) {
      ws.handshake("localhost:" + port, "/");
      ws.write(net::buffer(payload));
      ws.read(buffer);
    } else {
      namespace fg = ferry::gateway;
      ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
        req.set(beast::http::field::sec_websocket_protocol, std::string(fg::kSubprotocol));
      }));
      ws.handshake("localhost:" + port, "/");
      fg::LinkWriter writer;
      std::vector<std::byte> message;
      const std::string hello = fg::hello_payload("connect-bench", 1u << 20);
      writer.append(message, fg::kHelloType, 0, 0, std::as_bytes(std::span(hello)));
      writer.append(message, static_cast<std::uint16_t>(std::atoi(ferry_type.c_str())), 0, 1,
                    payload);
      ws.write(net::buffer(message));
      fg::LinkReader reader(1u << 20);
      for (bool replied = false; !replied;) {
        ws.read(buffer);
        const auto data = buffer.cdata();
        auto ok = reader.read(std::span(static_cast<const std::byte*>(data.data()), data.size()),
                              [&](const fg::LinkFrame& f) -> ferry::Result<void> {
                                if (f.is_reply() && f.header.correlation == 1) {
                                  if (f.is_error() || f.payload.size() != size) {
                                    return ferry::Error(ferry::Errc::invalid_argument,
                                                        "a bad reply: " + std::string(f.text()));
                                  }
                                  replied = true;
                                }
                                return {};
                              });
        if (!ok) throw std::runtime_error(ok.error().message());
        buffer.consume(buffer.size());
      }
    }
    mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (resume) {
      if (session != nullptr) SSL_SESSION_free(session);
      session = SSL_get1_session(ssl);
    }
    beast::error_code ignored;
    ws.close(websocket::close_code::normal, ignored);
  }
  if (session != nullptr) SSL_SESSION_free(session);
  results.add(mine);
  results.print(std::chrono::duration<double>(Clock::now() - begin).count(),
                ",\"resumed\":" + std::to_string(resumed));
  return 0;
}

// ----------------------------------------------------------------------- the local bus

ferry::ClientOptions on(const std::string& session) {
  ferry::ClientOptions o;
  o.session = session;
  o.name = "gateway-bench";
  return o;
}

int bus_echo(int argc, char** argv) {
  const auto type = static_cast<std::uint16_t>(std::atoi(arg(argc, argv, "--type", "8").c_str()));
  auto c = ferry::Client::connect(on(arg(argc, argv, "--session")));
  if (!c || !c->serve(type)) {
    std::fprintf(stderr, "bus-echo: cannot serve type %u\n", type);
    return 1;
  }
  std::printf("serving\n");
  std::fflush(stdout);
  for (;;) {
    auto n = c->wait(
        [&](const ferry::Message& m) {
          if (m.is_request()) (void)c->reply(m, m.payload);
        },
        std::chrono::seconds(1));
    if (!n) return 1;
  }
}

int bus_client(int argc, char** argv) {
  const std::string session = arg(argc, argv, "--session");
  const auto type = static_cast<std::uint16_t>(std::atoi(arg(argc, argv, "--type", "8").c_str()));
  const int clients = std::atoi(arg(argc, argv, "--clients", "1").c_str());
  const double seconds = std::atof(arg(argc, argv, "--seconds", "5").c_str());
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  const std::chrono::milliseconds swing(std::atoi(arg(argc, argv, "--swing-ms", "0").c_str()));
  Results results;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      auto c = ferry::Client::connect(on(session));
      if (!c) {
        failed = true;
        return;
      }
      const std::vector<std::byte> payload(size, std::byte{'x'});
      std::vector<double> mine;
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        if (swing.count() > 0 && i > 0 && (t0 - start) / swing % 2 == 0) {
          // A quiet phase: only requester 0 goes on; the others wait for the busy one.
          std::this_thread::sleep_until(start + ((t0 - start) / swing + 1) * swing);
          continue;
        }
        auto r = c->request(type, payload, std::chrono::seconds(10));
        if (!r || r->payload.size() != size) {
          std::fprintf(stderr, "bus-client: %s\n",
                       r ? "a reply of the wrong size" : r.error().message().c_str());
          failed = true;
          return;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      results.add(mine);
    });
  }
  for (auto& t : threads) t.join();
  if (failed) return 1;
  results.print(seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view role = argc > 1 ? argv[1] : "";
  try {
    if (role == "echo-server") return echo_server(argc, argv);
    if (role == "echo-client") return echo_client(argc, argv);
    if (role == "bus-echo") return bus_echo(argc, argv);
    if (role == "bus-client") return bus_client(argc, argv);
    if (role == "connect") return connect_loop(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-gateway-bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: ferry-gateway-bench echo-server|echo-client|bus-echo|bus-client|connect ... "
               "(see bench/gateway/gateway_bench.cpp)\n");
  return 2;
}
