// SPDX-License-Identifier: Apache-2.0
// ferry/client.hpp: a connection to a ferry endpoint (a Server, or ferryd's bus).
//
//   auto client = ferry::Client::connect({.endpoint = "bus"});
//   client->send(7, bytes);                                  // one-way
//   auto reply = client->request(8, bytes, 100ms);           // request/response
//   client->wait([](const ferry::Message& m) { ... }, 1s);  // messages pushed to us
//
// send() copies into the ring; reserve()/commit() write in place (zero-copy). A full ring
// is backpressure: send waits up to options.send_timeout, then fails with timed_out.
//
// A server that goes away is noticed at once by any wait (the socket hangs up), and while
// sending within 16 sends or 1 ms, whichever is later (a send into its ring succeeds).
// Requests in flight then fail with Errc::disconnected. The client knows exactly which of
// its messages the server consumed (the ring's read index, which the server moves only
// after what handling them sent is published): the one-way messages it did not consume are
// sent again after reconnecting, in order and flagged Message::is_resent() (that server may
// have handled some before dying: dedupe those if you must), or handed back through
// take_unsent() (Unsent::hand_back); nothing is dropped silently. With options.reconnect
// (the default) the client reconnects by itself inside the next call that sends or waits:
// at once, then with doubling pauses up to reconnect_backoff_max, restoring its
// subscriptions and served types; options.on_link is told both events. See
// docs/reliability.md for the guarantees.
//
// Thread-safety: a Client is not synchronized. Use it from one thread at a time (or one
// Client per thread); moving it between threads is fine.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ferry/codec.hpp"
#include "ferry/export.hpp"
#include "ferry/message.hpp"
#include "ferry/result.hpp"
#include "ferry/ring.hpp"
#include "ferry/wait.hpp"

namespace ferry {

// What happens to one-way messages a dead server never consumed.
enum class Unsent : std::uint8_t {
  resend,     // sent again, in order, once reconnected
  hand_back,  // kept for take_unsent()
};

// A change of the client's connection, given to ClientOptions::on_link.
struct LinkEvent {
  enum class Kind : std::uint8_t { lost, restored } kind = Kind::lost;
  std::string reason;          // lost: why (names the socket path)
  std::size_t unsent = 0;      // lost: one-way messages the server never consumed
  std::size_t dropped = 0;     // lost: requests and replies it never consumed (those fail)
  std::size_t resent = 0;      // restored: messages sent again
  std::uint32_t attempts = 0;  // restored: connection attempts it took
  std::chrono::microseconds down_for{0};  // restored: since the loss was noticed
};

// A one-way message handed back after its server died (Unsent::hand_back).
struct UnsentMessage {
  std::uint16_t type = 0;
  std::vector<std::byte> payload;  // as given to send() (decompressed)
};

struct ClientOptions {
  std::string endpoint = "bus";
  std::string session;              // empty: resolve_session()
  std::string socket_path;          // a server's ServerOptions::socket_path instead of both
  std::string name;                 // shown to the server; empty: the program's name
  std::uint32_t ring_capacity = 0;  // per direction; 0: the server's default
  CompressionOptions compression;   // codec for this connection and the size threshold
  WaitOptions wait;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::nanoseconds send_timeout = std::chrono::seconds(5);
  // Whether this client receives its own publications of the types it subscribes to (off:
  // a bridge between buses, which must not send back out what it brought in).
  bool echo = true;
  // Reconnect by itself when the server goes away (see above); off: every call after the
  // loss fails with Errc::disconnected.
  bool reconnect = true;
  std::chrono::milliseconds reconnect_backoff_max{50};
  Unsent unsent = Unsent::resend;
  // Called from inside the call that noticed the loss or reconnected; it must not call
  // this Client.
  std::function<void(const LinkEvent&)> on_link;
};

// A reply to request(), copied out of the ring.
struct Reply {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;
  std::vector<std::byte> payload;
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};  // NOLINT
  }
};

class FERRY_API Client {
 public:
  using Handler = std::function<void(const Message&)>;

  // Connects and performs the handshake. Errors name the socket path and the cause:
  // not_found (no endpoint, or its server has exited), permission (refused credentials or a
  // directory check), bad_version (the server speaks another protocol version), busy (the
  // server is at its connection limit), timed_out, invalid_argument.
  static Result<Client> connect(ClientOptions options = {});

  Client();
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();

  // Sends one message (compressed when the connection has a codec and the payload is at
  // least the threshold). Types from kReservedTypes up are invalid_argument.
  //
  // Batching: with Publish::later the message is written into the ring, but the server
  // does not see it until flush() publishes every message staged so far, in order, with
  // one release store and at most one wake-up of the server. Staged messages are also
  // published by the next send or commit with Publish::now, by request(), poll(), wait(),
  // prepare_wait() and close(), and whenever the ring is full (a batch larger than the ring
  // still goes through). If the connection is lost, staged messages count as unsent ones.
  Result<void> send(std::uint16_t type, std::span<const std::byte> payload,
                    Publish publish = Publish::now);
  // Zero-copy: room for an n-byte payload in the ring, then commit() what was written.
  // Never compressed. Waits up to send_timeout for room.
  Result<std::span<std::byte>> reserve(std::size_t n);
  void commit(std::size_t n, std::uint16_t type, Publish publish = Publish::now);
  // Publishes the messages sent or committed with Publish::later; nothing if there are none.
  void flush() noexcept;

  // Text: send(7, "disk full"), send(7, some_std_string).
  template <class Text>
  requires TextLike<Text> Result<void> send(std::uint16_t type, const Text& text) {
    return send(type, std::as_bytes(std::span(std::string_view(text))));
  }
  // A trivially copyable value as its bytes, named not deduced: send<Quote>(kQuote, q). The
  // receiver reads it in place with view_as<Quote>() (ferry/typed.hpp).
  template <class T>
  requires std::is_trivially_copyable_v<T> Result<void> send(std::uint16_t type,
                                                             const std::type_identity_t<T>& value) {
    return send(type, std::as_bytes(std::span(&value, 1)));
  }
  // A value of a named message type (ferry/message.hpp): send(kQuote, quote).
  template <std::uint16_t Id, class Payload>
  requires std::is_trivially_copyable_v<Payload> Result<void> send(MessageType<Id, Payload> type,
                                                                   const Payload& value) {
    return send<Payload>(type.id, value);
  }
  // Zero-copy for one T: a value-initialized T in the ring to fill in place, then
  // commit<T>(type). Payloads are 8-byte aligned, so T may ask no more.
  template <class T>
  requires std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T> &&
      (alignof(T) <= 8) Result<T*> reserve() {
    auto room = reserve(sizeof(T));
    if (!room) return room.error();
    return ::new (static_cast<void*>(room->data())) T{};
  }
  template <class T>
  void commit(std::uint16_t type) {
    commit(sizeof(T), type);
  }

  // Sends a request and waits up to `timeout` for its reply. Messages that arrive
  // meanwhile are kept for poll()/wait(). An error reply is Errc::remote with its text.
  Result<Reply> request(std::uint16_t type, std::span<const std::byte> payload,
                        std::chrono::nanoseconds timeout);
  template <class Text>
  requires TextLike<Text> Result<Reply> request(std::uint16_t type, const Text& text,
                                                std::chrono::nanoseconds timeout) {
    return request(type, std::as_bytes(std::span(std::string_view(text))), timeout);
  }
  // Sends a request without waiting for its reply, which comes to poll()'s and wait()'s
  // handler as a Message with is_reply() and the correlation id returned here (an error
  // reply: is_error(), its text the payload). Many may be outstanding; request() keeps their
  // replies for poll(). If the connection is lost first, each outstanding one gets an error
  // reply saying so (the server may or may not have handled it). The server or ferryd
  // times requests out (ferryd: request_timeout_ms); a caller with a shorter patience keeps
  // its own clock.
  Result<std::uint32_t> send_request(std::uint16_t type, std::span<const std::byte> payload);
  // Answers a request received through poll()/wait() (when this client serves a type).
  Result<void> reply(const Message& request, std::span<const std::byte> payload);
  Result<void> reply_error(const Message& request, std::string_view text);

  // Calls `handler` for up to `max` messages already waiting; never blocks.
  Result<std::size_t> poll(const Handler& handler, std::size_t max = SIZE_MAX);
  // Like poll(), but first waits up to `timeout` for at least one message. Returns 0 on
  // timeout.
  Result<std::size_t> wait(const Handler& handler, std::chrono::nanoseconds timeout);

  // ferryd's bus (each waits for ferryd's acknowledgement):
  // receive every message of `type` any client publishes ...
  Result<void> subscribe(std::uint16_t type,
                         std::chrono::nanoseconds timeout = std::chrono::seconds(5));
  Result<void> unsubscribe(std::uint16_t type,
                           std::chrono::nanoseconds timeout = std::chrono::seconds(5));
  // ... or receive the requests of `type`, to answer with reply().
  Result<void> serve(std::uint16_t type,
                     std::chrono::nanoseconds timeout = std::chrono::seconds(5));
  Result<void> unserve(std::uint16_t type,
                       std::chrono::nanoseconds timeout = std::chrono::seconds(5));

  // For an event loop of your own: fd() (the connection's socket) becomes readable when a
  // message may be waiting, but only after prepare_wait() returned true (it reads the
  // wake-ups already there and announces that this client sleeps), and when the server is
  // gone; then call poll() or wait(). -1 while not connected.
  int fd() const noexcept;
  bool prepare_wait();
  // Connections this client has made: 1 after connect(), one more with each reconnection.
  // fd() is a new descriptor whenever this changes (possibly with the same number as the
  // old one, which the kernel has dropped from any epoll set): register it again then.
  std::uint32_t links() const noexcept;

  // With Unsent::hand_back: the one-way messages dead servers never consumed, oldest
  // first, and forgets them.
  std::vector<UnsentMessage> take_unsent();
  // Messages of any kind this client committed that a server has consumed, over every
  // connection it had (a message sent again counts once).
  std::uint64_t acknowledged() const noexcept;

  bool connected() const noexcept;
  ConnectionId id() const noexcept;
  const std::string& socket_path() const noexcept;
  std::uint32_t max_payload() const noexcept;  // largest payload this client may send
  // Closes the connection (also done by the destructor).
  void close() noexcept;

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
