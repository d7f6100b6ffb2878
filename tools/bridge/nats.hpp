// SPDX-License-Identifier: Apache-2.0
// tools/bridge/nats.hpp: what ferry-bridge needs of the NATS C client (nats.c, Debian's
// libnats-dev): owners for its objects, its errors as ferry Errors, and the queue through
// which its threads hand messages and connection events to the bridge's loop.
//
// nats.c calls message handlers and connection callbacks on threads of its own; the bridge
// touches its ferry::Client, its maps and its log on one thread only. So the callbacks do
// nothing but push a NatsEvent here (blocking while the queue is full, which leaves the
// messages in the library's per-subscription queue, whose limits then report a slow
// consumer) and the loop takes them when the queue's eventfd is readable.
// Thread-safety: EventQueue::push from any thread; take() and fd() from the loop's thread.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "ferry/result.hpp"

namespace ferry::bridge {

// `what` failed with status `s`: invalid_argument for bad options, else system; the text
// has the library's own words ("nats: connect to nats://...: No server available ...").
Error nats_error(natsStatus s, std::string_view what);

struct NatsMsgFree {
  void operator()(natsMsg* m) const noexcept { natsMsg_Destroy(m); }
};
struct NatsOptionsFree {
  void operator()(natsOptions* o) const noexcept { natsOptions_Destroy(o); }
};
struct NatsConnectionFree {
  void operator()(natsConnection* c) const noexcept { natsConnection_Destroy(c); }
};
struct NatsSubscriptionFree {
  void operator()(natsSubscription* s) const noexcept { natsSubscription_Destroy(s); }
};
using NatsMsg = std::unique_ptr<natsMsg, NatsMsgFree>;
using NatsOptions = std::unique_ptr<natsOptions, NatsOptionsFree>;
using NatsConnection = std::unique_ptr<natsConnection, NatsConnectionFree>;
using NatsSubscription = std::unique_ptr<natsSubscription, NatsSubscriptionFree>;

// A header of `msg`, empty when it has none.
std::string_view nats_header(natsMsg* msg, const char* key);

struct NatsEvent {
  enum class Kind : std::uint8_t {
    message,        // `msg` arrived on subscription `sub`
    disconnected,   // the connection to the server was lost (the library reconnects)
    reconnected,    // ... and is back; `text`: the server's URL
    closed,         // the connection is closed for good
    slow_consumer,  // the library dropped messages of subscription `sub`
    error,          // an asynchronous error; `text` says what
    js_ack,         // JetStream answered a publication to subject `text`: `sub` 0 stored,
                    // 1 a duplicate it dropped, 2 not taken (`msg` to send again, `error`)
  };
  Kind kind = Kind::message;
  std::size_t sub = 0;
  NatsMsg msg;
  std::string text;
  std::string error;
};

class EventQueue {
 public:
  explicit EventQueue(std::size_t capacity);
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Readable while events wait.
  int fd() const noexcept { return fd_; }
  // Waits while the queue is full (unless the loop has stopped taking: then drops it).
  void push(NatsEvent event);
  // Everything waiting, oldest first.
  std::deque<NatsEvent> take();
  // The loop stops taking: pushes no longer wait.
  void close();

 private:
  int fd_ = -1;
  std::size_t capacity_;
  std::mutex lock_;
  std::condition_variable room_;
  std::deque<NatsEvent> events_;
  bool closed_ = false;
};

}  // namespace ferry::bridge
