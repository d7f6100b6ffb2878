// SPDX-License-Identifier: Apache-2.0
// ferry/server.hpp: an endpoint that many client processes connect to.
//
// A Server listens on a Unix socket in the session's runtime directory (ferry/session.hpp).
// Each client that connects gets its own shared-memory segment with a ring each way; the
// socket stays open only to detect that either side went away. Messages are dispatched by
// type to handlers (a router); requests are answered with Request::reply(). The server
// visits only connections whose producer rang the doorbell (a bitmap in shared memory), so
// idle connections cost a wake-up nothing, and serves at most `batch` messages of one
// connection per turn, so one busy client cannot starve the others.
//
// The server never blocks on one client: a send to a client whose ring is full returns
// would_block (and the server is woken when that client frees room); a handler that cannot
// finish calls Request::retry_later() and gets the same message again then. Backpressure
// reaches the sender, nothing is dropped.
//
// Thread-safety: a Server is driven by one thread (run() or run_once()); handlers and
// callbacks run on that thread and may call the Server. stop() may be called from any
// thread and from a signal handler (not while the Server is being moved or destroyed).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/codec.hpp"
#include "ferry/crc32c.hpp"
#include "ferry/export.hpp"
#include "ferry/message.hpp"
#include "ferry/result.hpp"
#include "ferry/wait.hpp"

namespace ferry {

// Whether a handler sees a peer's payload in the ring (zero-copy: the peer can still write
// it) or a private copy of it, taken before the handler runs.
enum class PayloadCopy : std::uint8_t {
  other_users,  // copy for peers of another uid; the server's own user's stay zero-copy
                // (the kernel already lets that user change the server's memory: ptrace)
  always,       // copy for everyone
  never,        // zero-copy for everyone (trusted peers only)
};

struct ServerOptions {
  std::string endpoint = "bus";  // socket name: <session dir>/<endpoint>.sock
  std::string session;           // empty: resolve_session() (FERRY_SESSION, login session)
  // A socket path of your choosing instead, for servers other users reach (a user's own
  // session directory is 0700): its directory must be writable by nobody but you or root
  // (check_socket_dir()). With an allow-list the socket is then mode 0666 and the
  // handshake alone decides who may connect; without one it stays 0600.
  std::string socket_path;
  std::uint32_t max_connections = 4096;
  std::uint32_t ring_capacity = 1u << 20;      // per direction, when the client asks for none
  std::uint32_t max_ring_capacity = 1u << 26;  // the most a client may ask for
  bool crc = true;                             // frames carry a checked CRC32C
  bool allow_own_user = true;                  // the server's own user may connect
  std::vector<uid_t> allow_uids;               // ... and these users
  std::vector<gid_t> allow_gids;  // ... or members of these groups (primary or supplementary)
  WaitOptions wait;               // how run() idles: spin, block or hybrid
  std::uint32_t batch = 64;       // most messages served from one connection per turn
  std::uint32_t compress_threshold = 1024;  // for connections that chose a codec
  std::chrono::milliseconds handshake_timeout{2000};
  // Times one handler call in kHandlerSampleEvery (two clock reads) into a histogram that
  // handler_latency() reads (Prometheus: ferry_handler_duration_seconds). Off: no clock read.
  bool handler_histogram = false;
  PayloadCopy payload_copy = PayloadCopy::other_users;
};

inline constexpr std::uint32_t kHandlerSampleEvery = 16;
// Values a server can publish (Server::publish_metric).
inline constexpr std::size_t kPublishedMetrics = 32;
inline constexpr std::size_t kLatencyBuckets = 18;
// Upper bounds of the histogram's buckets, in seconds (an implied +Inf bucket follows).
inline constexpr double kLatencyBounds[kLatencyBuckets] = {
    500e-9, 1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6,
    500e-6, 1e-3, 2e-3, 5e-3, 10e-3, 20e-3, 50e-3, 100e-3, 1.0};

// How long handlers took (sampled; see ServerOptions::handler_histogram).
struct LatencyHistogram {
  std::uint64_t count = 0;                         // calls timed
  double sum_seconds = 0;                          // their total time
  std::uint64_t cumulative[kLatencyBuckets] = {};  // calls at or under each bound
};

struct ConnectionInfo {
  ConnectionId id = 0;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;  // as the client gave it (printable ASCII, at most 64)
  Compression compression = Compression::none;
  std::uint32_t c2s_capacity = 0;
  std::uint32_t s2c_capacity = 0;
};

enum class DisconnectReason : std::uint8_t {
  closed,          // the client closed its end or died
  protocol_error,  // it wrote something no correct client writes (counted)
  server_closed,   // Server::disconnect() or the server stopping
};
// A client cut off by the server (protocol_error, server_closed) is told why: the server
// writes the reason into the connection segment before closing, and the client's
// Errc::disconnected error (and LinkEvent::reason) ends with it.
FERRY_API std::string_view to_string(DisconnectReason reason) noexcept;

// The server's counters. They live in shared memory (the stat segment, which only the
// server writes and no client maps), so stats() may be called from any thread, and other
// processes read them (ferry stat).
struct ServerStats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;              // handshakes refused, the sum of the six reasons below
  std::uint64_t rejected_version = 0;      // another protocol version
  std::uint64_t rejected_credentials = 0;  // a user or group the server does not allow
  std::uint64_t rejected_full = 0;         // at max_connections
  std::uint64_t rejected_malformed = 0;    // a hello that does not parse, or impossible rings
  std::uint64_t rejected_abandoned = 0;    // the client left, or was silent past the timeout
  std::uint64_t rejected_failed = 0;       // the server could not set the connection up
  std::uint64_t lost = 0;                  // connections that ended by the peer's close or death
  std::uint64_t protocol_errors = 0;
  std::uint64_t active = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t messages_out = 0;
  std::uint64_t unhandled = 0;       // messages no handler took
  std::uint64_t bytes_in = 0;        // payload bytes of messages_in, as they crossed the ring
  std::uint64_t bytes_out = 0;       // payload bytes of messages_out, as they crossed the ring
  std::uint64_t reconnects = 0;      // accepted connections whose client had lost an earlier one
  std::uint64_t handler_errors = 0;  // handler calls that threw (see Server::on)
};

class Request;

// One payload for many Server::send()s (a fan-out): assign() copies it into private memory
// once, so that every connection gets the same bytes whatever the memory it came from does
// meanwhile, and computes its CRC32C once; each send() then copies it and computes the CRC
// of its header only. Reuse one object: its memory and its CRC join (prepared per size) stay.
class FERRY_API FanoutPayload {
 public:
  void assign(std::span<const std::byte> payload);
  std::span<const std::byte> bytes() const noexcept { return {bytes_.data(), size_}; }
  std::uint32_t crc() const noexcept { return crc_; }
  const Crc32cJoin& join() const noexcept { return join_; }

 private:
  std::vector<std::byte> bytes_;
  std::size_t size_ = 0;
  std::uint32_t crc_ = 0;
  Crc32cJoin join_;
};

class FERRY_API Server {
 public:
  using Handler = std::function<void(Request&)>;
  using ConnectHandler = std::function<void(const ConnectionInfo&)>;
  using DisconnectHandler = std::function<void(const ConnectionInfo&, DisconnectReason)>;

  // Creates the session directory if needed and listens on the endpoint's socket. Errors:
  // exists (another server listens there), permission (directory checks), invalid_argument.
  static Result<Server> create(ServerOptions options = {});

  // A Server is a move-only value, like Client: moving it moves the endpoint with its
  // connections and handlers, and a moved-from Server may only be destroyed or assigned
  // to. Assigning to a Server first shuts down the endpoint it held, as destroying it does.
  // What holds the Server's address does not follow it: a handler that captured it, the
  // pointer a signal handler calls stop() through, a thread in run(). Move it before its
  // address is handed out, or not at all.
  Server(Server&& other) noexcept;
  Server& operator=(Server&& other) noexcept;
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Routes messages of `type` to `handler` (replacing any earlier one). A handler that
  // throws does not stop the server: the message counts as handled, a request that got no
  // reply yet gets an error reply ("the handler for message type T at <path> failed:
  // <what()>", so put no payload bytes in exception texts), and ServerStats::handler_errors
  // counts it.
  void on(std::uint16_t type, Handler handler);
  // For types without a handler. Without one, requests get an error reply naming the
  // type, and other messages are counted (ServerStats::unhandled) and dropped.
  void on_default(Handler handler);
  void on_connect(ConnectHandler handler);
  void on_disconnect(DisconnectHandler handler);

  // Serves until stop(). Returns an error only if the server itself cannot go on.
  Result<void> run();
  // One turn: accepts and handshakes, serves ready connections, and when there was nothing
  // to do waits up to `timeout` (following options.wait) for something. For driving the
  // server from another loop: wait for fd() to become readable, then run_once(0).
  Result<void> run_once(std::chrono::nanoseconds timeout);
  // Before waiting on fd() yourself: announces that the server sleeps, so clients ring its
  // eventfd. Returns false when work is already waiting (call run_once(0) instead).
  bool prepare_wait();
  // An epoll descriptor that becomes readable when the server has work.
  int fd() const noexcept;
  // Makes run() return soon. Thread-safe and async-signal-safe.
  void stop() noexcept;

  // Sends a message to one connection (a push, or with kFlagReply a reply). Errors:
  // not_found (no such connection), would_block (its ring is full; the server wakes when it
  // has room), too_large, invalid_argument (reserved flags).
  Result<void> send(ConnectionId to, std::uint16_t type, std::span<const std::byte> payload,
                    std::uint32_t correlation = 0, std::uint8_t flags = 0);
  // The same for a payload prepared for many connections: no CRC over the payload per send.
  Result<void> send(ConnectionId to, std::uint16_t type, const FanoutPayload& payload,
                    std::uint32_t correlation = 0, std::uint8_t flags = 0);
  // Closes a connection (after serving what it already sent is not guaranteed). `why`, if
  // given, is what the client's error says (cut at 248 bytes); never put payload bytes in it.
  void disconnect(ConnectionId id, std::string_view why = {});

  const ConnectionInfo* connection(ConnectionId id) const;
  std::size_t connection_count() const noexcept;
  ServerStats stats() const noexcept;
  // Any thread; all zero unless ServerOptions::handler_histogram.
  LatencyHistogram handler_latency() const noexcept;
  // Publishes a value of the application's own beside the endpoint's counters, in the
  // server's stat segment, where other processes read it (ferry stat --json; ferry exporter
  // exports it as a Prometheus sample with the endpoint's labels). `series` is a Prometheus
  // series, at most 95 bytes: a name ([a-zA-Z_:][a-zA-Z0-9_:]*) and optionally labels,
  // `orders_total{kind="limit",side="buy"}` (label names [a-zA-Z_][a-zA-Z0-9_]*, not
  // session or endpoint; values printable ASCII without " or \). A name ending in _total is
  // a counter, any other a gauge. Returns the value, zero at first, in shared memory that
  // stays valid as long as the Server: this process alone writes it, relaxed (one writing
  // thread at a time: a load and a store need no read-modify-write). The same series again
  // returns the same value. Errors: invalid_argument (naming the rule the series breaks),
  // no_memory (all kPublishedMetrics taken). Call it from the thread that drives the server.
  Result<std::atomic<std::uint64_t>*> publish_metric(std::string_view series);
  const std::string& socket_path() const noexcept;
  const std::string& session() const noexcept;
  // The most connections it accepts: ServerOptions::max_connections, or fewer when the
  // descriptor limit (RLIMIT_NOFILE) has no room for that many and could not be raised;
  // then max_connections_note() says so and how to raise it (else it is empty).
  std::uint32_t max_connections() const noexcept;
  const std::string& max_connections_note() const noexcept;

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One received message being handled. Valid only during the handler call.
class FERRY_API Request {
 public:
  const Message& message() const noexcept { return message_; }
  std::uint16_t type() const noexcept { return message_.type; }
  std::span<const std::byte> payload() const noexcept { return message_.payload; }
  ConnectionId connection() const noexcept { return from_; }
  const ConnectionInfo& peer() const;

  // Answers a request (a message with a correlation id): same type, the reply flag, the
  // same correlation id. invalid_argument if the message is not a request; would_block if
  // the requester's ring is full (then retry_later() and reply again).
  Result<void> reply(std::span<const std::byte> payload);
  // Text: reply("done"), reply(some_std_string).
  template <class Text>
  requires TextLike<Text> Result<void> reply(const Text& text) {
    return reply(std::as_bytes(std::span(std::string_view(text))));
  }
  // An error reply: the requester's request() fails with Errc::remote and this text.
  Result<void> reply_error(std::string_view text);
  // Leaves the message in the ring: the handler gets it again on a later turn (after a
  // would_block target has room). The sender's later messages wait behind it.
  void retry_later() noexcept { retry_ = true; }

 private:
  bool replied_ = false;  // a reply or an error reply went out
  friend class Server::Impl;
  // The server's state, not the Server object: a Server may have been moved since on().
  Request(Server::Impl& server, ConnectionId from, const Message& message)
      : server_(server), from_(from), message_(message) {}
  Server::Impl& server_;
  ConnectionId from_;
  Message message_;
  bool retry_ = false;
};

}  // namespace ferry
