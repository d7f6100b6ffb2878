// SPDX-License-Identifier: Apache-2.0
// bench/peers/zmq_roles.cpp: the participants over ZeroMQ 4.3 (libzmq's C API),
// --transport zmq (peer_roles.hpp, docs/bench.md "Over ZeroMQ").
//
// One ipc:// endpoint, <session dir>/<endpoint>.zmq in the run's private runtime directory,
// bound by the server. The socket types are ZeroMQ's idioms for each pattern:
//   pingpong, stream  PAIR - PAIR: one peer, both ways, nothing added to a message; the end
//                     marker's acknowledgement comes back on the same socket.
//   fanin, rate       PUSH -> PULL: N producers fair-queued into one consumer. A PUSH blocks
//                     when its queue is at the high-water mark, so nothing is dropped. A PULL
//                     cannot answer: the end marker is not acknowledged on the socket.
//   reqrep            DEALER -> ROUTER: the server answers each request to the identity it
//                     came from (ZMQ_ROUTER_MANDATORY: an unroutable reply is an error, not a
//                     silent drop); each DEALER keeps one request outstanding, as a REQ would,
//                     without REQ's empty delimiter frame.
// Nobody closes a socket right after sending on it: libzmq 4.3 now and then loses the last
// messages of a socket closed right after sending over ipc, whatever ZMQ_LINGER says (seen
// beside CPU hogs: a PUSH's end marker lost in about one run of 30, and the consumer waiting
// for it for good). So the run's shared state says when the other side is done: a producer
// keeps its PUSH open until the consumer has every end marker, and a server that answers
// keeps its socket open until every client has the acknowledgement of its end marker.
// A data message is written in place into a zmq_msg_t (zmq_msg_init_size) and handed over
// with zmq_msg_send(), without the copy zmq_send() makes; requests and replies are copied in
// once (zmq_send). Receivers check each message where zmq_msg_recv() put it. High-water
// marks, buffers and the I/O thread (one per process) are ZeroMQ's defaults.
// ZeroMQ has one way to wait: its calls block (in poll on the socket's mailbox, while its
// I/O thread blocks in epoll). parse_options takes --wait block only.
#include <zmq.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "common/clock.hpp"
#include "ferry/session.hpp"
#include "peer_roles.hpp"
#include "workload/client_loop.hpp"
#include "workload/receiver.hpp"
#include "workload/shared_state.hpp"

namespace ferry::bench {

namespace {

// The server looks at the stop flag this often when no message comes.
constexpr int kPollMs = 100;

// Sleeps until done() or the process is asked to stop (the orchestrator stops a run that
// does not end).
template <class Done>
void wait_for(Done&& done) {
  while (!done() && !stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

Error zmq_error(const std::string& what) {
  return Error(Errc::system, what + ": " + zmq_strerror(zmq_errno()));
}

Result<std::string> zmq_endpoint(const Options& o, bool create) {
  auto dir = session_dir(o.session, create);
  if (!dir) return dir.error();
  return "ipc://" + *dir + "/" + o.endpoint + ".zmq";
}

int server_type(const Options& o) {
  switch (o.scenario) {
    case Scenario::fanin:
    case Scenario::rate: return ZMQ_PULL;
    case Scenario::reqrep: return ZMQ_ROUTER;
    default: return ZMQ_PAIR;  // pingpong, stream (parse_options refuses the others)
  }
}

int client_type(const Options& o) {
  switch (server_type(o)) {
    case ZMQ_PULL: return ZMQ_PUSH;
    case ZMQ_ROUTER: return ZMQ_DEALER;
    default: return ZMQ_PAIR;
  }
}

// A context with one socket. Closing closes the socket, then terminates the context, which
// waits until what the socket still has to send is sent (ZMQ_LINGER -1, the default), unless
// the process was asked to stop.
class ZmqSocket {
 public:
  static Result<ZmqSocket> open(int type) {
    ZmqSocket s;
    s.context_ = zmq_ctx_new();
    if (s.context_ == nullptr) return zmq_error("zmq_ctx_new");
    s.socket_ = zmq_socket(s.context_, type);
    if (s.socket_ == nullptr) return zmq_error("zmq_socket");
    s.type_ = type;
    return s;
  }
  ZmqSocket() = default;
  ZmqSocket(ZmqSocket&& other) noexcept
      : context_(std::exchange(other.context_, nullptr)),
        socket_(std::exchange(other.socket_, nullptr)),
        type_(other.type_) {}
  ZmqSocket& operator=(ZmqSocket&&) = delete;
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;
  ~ZmqSocket() {
    if (socket_ != nullptr) {
      if (stop_requested()) (void)set(ZMQ_LINGER, 0);  // no waiting for a gone peer
      zmq_close(socket_);
    }
    if (context_ != nullptr) {
      while (zmq_ctx_term(context_) != 0 && zmq_errno() == EINTR) {
      }
    }
  }

  void* get() const noexcept { return socket_; }
  int type() const noexcept { return type_; }
  Result<void> set(int option, int value) {
    if (zmq_setsockopt(socket_, option, &value, sizeof value) != 0) {
      return zmq_error("zmq_setsockopt " + std::to_string(option));
    }
    return {};
  }

  // Sends a copy of `bytes` (ZMQ_SNDMORE in `flags` for a frame with more to come).
  Result<void> send(std::span<const std::byte> bytes, int flags = 0) {
    while (zmq_send(socket_, bytes.data(), bytes.size(), flags) < 0) {
      if (zmq_errno() != EINTR) return zmq_error("zmq_send");
    }
    return {};
  }
  // Hands `msg` over (it is empty after).
  Result<void> send(zmq_msg_t& msg, int flags = 0) {
    while (zmq_msg_send(&msg, socket_, flags) < 0) {
      if (zmq_errno() != EINTR) return zmq_error("zmq_msg_send");
    }
    return {};
  }
  // The next message into `msg`; false when ZMQ_RCVTIMEO ran out or a signal came.
  Result<bool> receive(zmq_msg_t& msg) {
    if (zmq_msg_recv(&msg, socket_, 0) >= 0) return true;
    if (zmq_errno() == EAGAIN || zmq_errno() == EINTR) return false;
    return zmq_error("zmq_msg_recv");
  }

 private:
  void* context_ = nullptr;
  void* socket_ = nullptr;
  int type_ = 0;
};

// A zmq_msg_t that closes with its owner.
class Message {
 public:
  Message() { zmq_msg_init(&msg_); }
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() { zmq_msg_close(&msg_); }
  zmq_msg_t& get() noexcept { return msg_; }
  std::span<const std::byte> bytes() noexcept {
    return {static_cast<const std::byte*>(zmq_msg_data(&msg_)), zmq_msg_size(&msg_)};
  }
  bool more() const noexcept { return zmq_msg_more(&msg_) != 0; }

 private:
  zmq_msg_t msg_{};
};

class ZmqConn {
 public:
  ZmqConn(ZmqSocket socket, const Options& o, SharedState& state)
      : socket_(std::move(socket)), size_(o.size), state_(state) {}

  Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns) {
    Message m;
    if (zmq_msg_init_size(&m.get(), size_) != 0) return zmq_error("zmq_msg_init_size");
    fill_payload({static_cast<std::byte*>(zmq_msg_data(&m.get())), size_}, producer, seq, stamp_ns);
    return socket_.send(m.get());
  }

  Result<std::span<const std::byte>> request(std::span<const std::byte> payload) {
    if (auto r = socket_.send(payload); !r) return r.error();
    for (;;) {
      auto got = socket_.receive(reply_.get());
      if (!got) return got.error();
      if (*got) return reply_.bytes();
    }
  }

  Result<void> finish(std::uint32_t producer, std::uint64_t next_seq) {
    const auto end = encode_end(producer, next_seq);
    if (socket_.type() == ZMQ_PUSH) {  // unanswered; see above
      if (auto r = socket_.send(end); !r) return r;
      wait_for([&] { return state_.all_ended(); });
      return {};
    }
    auto ack = request(end);
    if (!ack) return ack.error();
    state_.add_acknowledged();
    return {};
  }

 private:
  ZmqSocket socket_;
  std::size_t size_;
  SharedState& state_;
  Message reply_;
};

Result<void> serve(const Options& o, ZmqSocket& socket, Receiver& rx) {
  const bool router = socket.type() == ZMQ_ROUTER;
  const bool answers = socket.type() != ZMQ_PULL;
  Message from;  // ROUTER: the identity frame of the client
  Message in;
  while (!rx.finished() && !stop_requested()) {
    if (router) {
      auto got = socket.receive(from.get());
      if (!got) return got.error();
      if (!*got) continue;
      if (!from.more()) {
        rx.count_error();
        continue;
      }
    }
    auto got = socket.receive(in.get());
    if (!got) return got.error();
    if (!*got) continue;
    const std::int64_t now = tools::now_ns();
    const std::span<const std::byte> payload = in.bytes();
    std::span<const std::byte> reply;
    if (payload.size() == kEndBytes) {
      rx.on_end(payload);
      reply = payload;  // the acknowledgement
    } else if (o.request_reply()) {
      reply = rx.on_request(payload);
    } else {
      rx.on_data(payload, now);
      continue;
    }
    if (!answers) continue;  // PULL: an end marker
    if (router) {
      if (auto r = socket.send(from.bytes(), ZMQ_SNDMORE); !r) return r.error();
    }
    if (auto r = socket.send(reply); !r) return r.error();
    if (payload.size() != kEndBytes) rx.accept();
  }
  return {};
}

int run_zmq_server(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-server");
  install_stop_handlers();
  Receiver rx(o, ctx.state());
  auto endpoint = zmq_endpoint(o, true);
  if (!endpoint) return ctx.fail(endpoint.error());
  auto socket = ZmqSocket::open(server_type(o));
  if (!socket) return ctx.fail(socket.error());
  if (auto r = socket->set(ZMQ_RCVTIMEO, kPollMs); !r) return ctx.fail(r.error());
  if (socket->type() == ZMQ_ROUTER) {
    if (auto r = socket->set(ZMQ_ROUTER_MANDATORY, 1); !r) return ctx.fail(r.error());
  }
  if (zmq_bind(socket->get(), endpoint->c_str()) != 0) {
    return ctx.fail(zmq_error("binding " + *endpoint));
  }
  ctx.say("ready");
  auto served = serve(o, *socket, rx);
  if (!served) return ctx.fail(served.error());
  // The other side is done with its socket before this one closes (see the top).
  if (socket->type() == ZMQ_PULL) {
    ctx.state().set_all_ended();
  } else {
    wait_for([&] { return ctx.state().acknowledged() >= o.clients; });
  }
  ctx.say(rx.report().encode());
  return 0;
}

int run_zmq_client(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-client");
  auto endpoint = zmq_endpoint(o, false);
  if (!endpoint) return ctx.fail(endpoint.error());
  auto socket = ZmqSocket::open(client_type(o));
  if (!socket) return ctx.fail(socket.error());
  // Connecting is asynchronous; what is sent before it completes waits in the socket's queue.
  if (zmq_connect(socket->get(), endpoint->c_str()) != 0) {
    return ctx.fail(zmq_error("connecting to " + *endpoint));
  }
  ZmqConn conn(std::move(*socket), o, ctx.state());
  ctx.say("ready");
  return run_client(ctx, conn);
}

}  // namespace

int run_zmq_role(RoleContext& ctx) {
  switch (ctx.options().role) {
    case Role::server: return run_zmq_server(ctx);
    case Role::client: return run_zmq_client(ctx);
    default: return ctx.fail(Error(Errc::invalid_argument, "zmq has no such participant"));
  }
}

}  // namespace ferry::bench
