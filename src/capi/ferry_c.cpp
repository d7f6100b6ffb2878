// SPDX-License-Identifier: Apache-2.0
// libferry-c: the C interface (include/ferry/ferry.h) over the C++ API. Each function turns
// its arguments into C++ ones, calls the C++ API, and turns a ferry::Error (or an exception:
// nothing may unwind into C) into a status and this thread's last-error message.
#include "ferry/ferry.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "ferry/client.hpp"
#include "ferry/result.hpp"
#include "ferry/server.hpp"
#include "ferry/version.hpp"

struct ferry_client {
  ferry::Client client;
  std::size_t reserved = 0;  // bytes of the live reservation; 0: none

  // The client, for a call that may write to the ring or reconnect (to a new ring): either
  // ends a live reservation, so that a commit after it is refused, not a ring's abort.
  ferry::Client& unreserved() {
    reserved = 0;
    return client;
  }
};

struct ferry_server {
  ferry::Server server;
};

struct ferry_request {
  ferry::Request& request;
  ferry_message message;
  bool failed = false;
  std::string failure;
};

namespace {

#define FERRY_SAME_CODE(c, e) \
  static_assert(static_cast<int>(ferry::Errc::c) == (e), "ferry_status must match ferry::Errc")
FERRY_SAME_CODE(ok, FERRY_OK);
FERRY_SAME_CODE(would_block, FERRY_WOULD_BLOCK);
FERRY_SAME_CODE(timed_out, FERRY_TIMED_OUT);
FERRY_SAME_CODE(too_large, FERRY_TOO_LARGE);
FERRY_SAME_CODE(invalid_argument, FERRY_INVALID_ARGUMENT);
FERRY_SAME_CODE(bad_length, FERRY_BAD_LENGTH);
FERRY_SAME_CODE(bad_version, FERRY_BAD_VERSION);
FERRY_SAME_CODE(bad_flags, FERRY_BAD_FLAGS);
FERRY_SAME_CODE(bad_crc, FERRY_BAD_CRC);
FERRY_SAME_CODE(bad_sequence, FERRY_BAD_SEQUENCE);
FERRY_SAME_CODE(corrupt, FERRY_CORRUPT);
FERRY_SAME_CODE(permission, FERRY_PERMISSION);
FERRY_SAME_CODE(exists, FERRY_EXISTS);
FERRY_SAME_CODE(not_found, FERRY_NOT_FOUND);
FERRY_SAME_CODE(no_memory, FERRY_NO_MEMORY);
FERRY_SAME_CODE(system, FERRY_SYSTEM);
FERRY_SAME_CODE(disconnected, FERRY_DISCONNECTED);
FERRY_SAME_CODE(busy, FERRY_BUSY);
FERRY_SAME_CODE(remote, FERRY_REMOTE);
#undef FERRY_SAME_CODE
static_assert(FERRY_RESERVED_TYPES == ferry::kReservedTypes);
static_assert(FERRY_FLAG_REPLY == ferry::wire::kFlagReply);
static_assert(FERRY_FLAG_ERROR == ferry::wire::kFlagError);
static_assert(FERRY_FLAG_RESENT == ferry::wire::kFlagResent);

thread_local std::string last_error;

int fail(const ferry::Error& error) {
  last_error = error.message();
  return static_cast<int>(error.code());
}
int fail(ferry::Errc code, std::string message) {
  return fail(ferry::Error(code, std::move(message)));
}

// Runs `body` (which returns a status), turning any exception into one: nothing unwinds
// into C.
template <class Body>
int guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(ferry::Errc::no_memory, "out of memory");
  } catch (const std::exception& e) {
    return fail(ferry::Errc::system, e.what());
  } catch (...) {
    return fail(ferry::Errc::system, "an unknown exception");
  }
}

int status(const ferry::Result<void>& r) {
  return r ? FERRY_OK : fail(r.error());
}

// The checks every call on a handle makes first; returns a status or FERRY_OK.
int null_check(const void* handle, const char* what) {
  if (handle != nullptr) return FERRY_OK;
  return fail(ferry::Errc::invalid_argument, std::string(what) + " is NULL");
}

std::span<const std::byte> bytes(const void* data, std::size_t size) {
  return {static_cast<const std::byte*>(data), data == nullptr ? 0 : size};
}

int check_payload(const void* data, std::size_t size) {
  if (data == nullptr && size != 0) {
    return fail(ferry::Errc::invalid_argument,
                "a NULL payload of " + std::to_string(size) + " bytes");
  }
  return FERRY_OK;
}

int to_duration(std::int64_t ns, std::chrono::nanoseconds& out) {
  if (ns < 0) {
    return fail(ferry::Errc::invalid_argument,
                "a negative timeout (" + std::to_string(ns) + " ns); use 0 or FERRY_FOREVER");
  }
  out = ns == FERRY_FOREVER ? ferry::kForever : std::chrono::nanoseconds(ns);
  return FERRY_OK;
}

int to_strategy(ferry_wait_strategy w, const char* options, ferry::WaitStrategy& out) {
  switch (w) {
    case FERRY_WAIT_HYBRID: out = ferry::WaitStrategy::hybrid; return FERRY_OK;
    case FERRY_WAIT_SPIN: out = ferry::WaitStrategy::spin; return FERRY_OK;
    case FERRY_WAIT_BLOCK: out = ferry::WaitStrategy::block; return FERRY_OK;
  }
  return fail(ferry::Errc::invalid_argument,
              std::string(options) + ".wait is " + std::to_string(static_cast<int>(w)) +
                  ": FERRY_WAIT_HYBRID, FERRY_WAIT_SPIN or FERRY_WAIT_BLOCK");
}

ferry_message to_c(const ferry::Message& m) {
  ferry_message c{};
  c.type = m.type;
  c.flags = m.flags;
  c.correlation = m.correlation;
  c.payload = m.payload.data();
  c.size = m.payload.size();
  c.in_shared_memory = m.in_shared_memory;
  return c;
}

ferry::Message from_c(const ferry_message& c) {
  ferry::Message m;
  m.type = c.type;
  m.flags = c.flags;
  m.correlation = c.correlation;
  m.payload = bytes(c.payload, c.size);
  return m;
}

// The options the caller gave (NULL: the defaults) over the defaults of `init`: a caller
// built against an older, shorter struct (a smaller struct_size) keeps the defaults of the
// fields it does not know.
template <class Options>
int read_options(const Options* given, void (*init)(Options*), Options& out, const char* name) {
  init(&out);
  if (given == nullptr) return FERRY_OK;
  if (given->struct_size < sizeof(std::size_t) || given->struct_size > sizeof(Options)) {
    return fail(ferry::Errc::invalid_argument,
                std::string(name) + ".struct_size is " + std::to_string(given->struct_size) +
                    " bytes, this library knows " + std::to_string(sizeof(Options)) + ": call " +
                    name +
                    "_init() first (a program built against a newer "
                    "ferry.h needs a newer libferry-c)");
  }
  std::memcpy(static_cast<void*>(&out), given, given->struct_size);
  return FERRY_OK;
}

std::string text_or(const char* text, std::string_view fallback) {
  return text != nullptr ? std::string(text) : std::string(fallback);
}

// Where to connect or listen, and how to wait: the fields both options structs have.
template <class COptions, class Options>
int read_common(const COptions& c, Options& o, const char* name) {
  o.endpoint = text_or(c.endpoint, o.endpoint);
  o.session = text_or(c.session, "");
  o.socket_path = text_or(c.socket_path, "");
  return to_strategy(c.wait, name, o.wait.strategy);
}

}  // namespace

// Each definition has the C linkage of its declaration in ferry.h.

const char* ferry_last_error(void) {
  return last_error.c_str();
}

const char* ferry_status_name(int code) {
  if (code < FERRY_OK || code > FERRY_REMOTE) return "unknown";
  // Every name is a literal in the library's text (to_string's table), so NUL-terminated.
  return ferry::to_string(static_cast<ferry::Errc>(code)).data();
}

const char* ferry_version(void) {
  return FERRY_VERSION_STRING;
}

uint32_t ferry_version_number(void) {
  return FERRY_VERSION_NUMBER;
}

bool ferry_message_is_request(const ferry_message* message) {
  return message != nullptr && from_c(*message).is_request();
}

// ---- Client ----

void ferry_client_options_init(ferry_client_options* o) {
  if (o == nullptr) return;
  const ferry::ClientOptions d;
  *o = ferry_client_options{};
  o->struct_size = sizeof(*o);
  o->connect_timeout_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(d.connect_timeout).count();
  o->send_timeout_ns = d.send_timeout.count();
  o->reconnect = d.reconnect;
  o->echo = d.echo;
  o->wait = FERRY_WAIT_HYBRID;
}

int ferry_client_connect(const ferry_client_options* given, ferry_client** out) {
  return guarded([&]() -> int {
    if (int s = null_check(out, "the ferry_client** to set"); s != FERRY_OK) return s;
    *out = nullptr;
    ferry_client_options c;
    if (int s = read_options(given, ferry_client_options_init, c, "ferry_client_options");
        s != FERRY_OK)
      return s;
    ferry::ClientOptions o;
    if (int s = read_common(c, o, "ferry_client_options"); s != FERRY_OK) return s;
    o.name = text_or(c.name, "");
    o.ring_capacity = c.ring_capacity;
    std::chrono::nanoseconds connect_timeout{};
    if (int s = to_duration(c.connect_timeout_ns, connect_timeout); s != FERRY_OK) return s;
    o.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(connect_timeout);
    if (int s = to_duration(c.send_timeout_ns, o.send_timeout); s != FERRY_OK) return s;
    o.reconnect = c.reconnect;
    o.echo = c.echo;
    auto client = ferry::Client::connect(std::move(o));
    if (!client) return fail(client.error());
    *out = new ferry_client{std::move(*client)};
    return FERRY_OK;
  });
}

void ferry_client_close(ferry_client* client) {
  delete client;
}

int ferry_client_send(ferry_client* client, uint16_t type, const void* payload, size_t size) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = check_payload(payload, size); s != FERRY_OK) return s;
    return status(client->unreserved().send(type, bytes(payload, size)));
  });
}

int ferry_client_send_batch(ferry_client* client, const ferry_outgoing* messages, size_t count,
                            size_t* sent) {
  if (sent != nullptr) *sent = 0;
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (count > 0) {
      if (int s = null_check(messages, "the ferry_outgoing array"); s != FERRY_OK) return s;
    }
    ferry::Client& c = client->unreserved();
    int result = FERRY_OK;
    for (const ferry_outgoing& m : std::span(messages, count)) {
      result = check_payload(m.payload, m.size);
      if (result == FERRY_OK)
        result = status(c.send(m.type, bytes(m.payload, m.size), ferry::Publish::later));
      if (result != FERRY_OK) break;
      if (sent != nullptr) ++*sent;
    }
    c.flush();
    return result;
  });
}

int ferry_client_reserve(ferry_client* client, size_t size, void** out) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = null_check(out, "the void** to set"); s != FERRY_OK) return s;
    *out = nullptr;
    auto room = client->client.reserve(size);
    if (!room) return fail(room.error());
    client->reserved = size;
    *out = room->data();
    return FERRY_OK;
  });
}

int ferry_client_commit(ferry_client* client, size_t size, uint16_t type) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (client->reserved == 0 || size > client->reserved) {
      return fail(ferry::Errc::invalid_argument,
                  "commit of " + std::to_string(size) + " bytes with " +
                      (client->reserved == 0
                           ? std::string("no reservation (call ferry_client_reserve first)")
                           : "a reservation of " + std::to_string(client->reserved)));
    }
    if (type >= FERRY_RESERVED_TYPES) {
      return fail(ferry::Errc::invalid_argument,
                  "message type " + std::to_string(type) + " is reserved for ferry");
    }
    client->reserved = 0;
    client->client.commit(size, type);
    return FERRY_OK;
  });
}

void ferry_reply_free(ferry_reply* reply) {
  if (reply == nullptr) return;
  std::free(reply->payload);  // NOLINT: the C caller's memory, malloc'd below
  *reply = ferry_reply{};
}

int ferry_client_request(ferry_client* client, uint16_t type, const void* payload, size_t size,
                         int64_t timeout_ns, ferry_reply* out) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = null_check(out, "the ferry_reply to fill"); s != FERRY_OK) return s;
    *out = ferry_reply{};
    if (int s = check_payload(payload, size); s != FERRY_OK) return s;
    std::chrono::nanoseconds timeout{};
    if (int s = to_duration(timeout_ns, timeout); s != FERRY_OK) return s;
    auto reply = client->unreserved().request(type, bytes(payload, size), timeout);
    if (!reply) return fail(reply.error());
    // One byte at least, so that an empty reply's payload is not NULL to a caller that
    // checks it (and malloc(0) may return NULL).
    void* copy = std::malloc(reply->payload.size() + 1);  // NOLINT: the C caller frees it
    if (copy == nullptr) return fail(ferry::Errc::no_memory, "out of memory for the reply");
    if (!reply->payload.empty()) std::memcpy(copy, reply->payload.data(), reply->payload.size());
    out->type = reply->type;
    out->flags = reply->flags;
    out->payload = copy;
    out->size = reply->payload.size();
    return FERRY_OK;
  });
}

int ferry_client_send_request(ferry_client* client, uint16_t type, const void* payload, size_t size,
                              uint32_t* correlation) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = check_payload(payload, size); s != FERRY_OK) return s;
    auto corr = client->unreserved().send_request(type, bytes(payload, size));
    if (!corr) return fail(corr.error());
    if (correlation != nullptr) *correlation = *corr;
    return FERRY_OK;
  });
}

int ferry_client_reply(ferry_client* client, const ferry_message* request, const void* payload,
                       size_t size) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = null_check(request, "the request"); s != FERRY_OK) return s;
    if (int s = check_payload(payload, size); s != FERRY_OK) return s;
    return status(client->unreserved().reply(from_c(*request), bytes(payload, size)));
  });
}

int ferry_client_reply_error(ferry_client* client, const ferry_message* request, const char* text) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = null_check(request, "the request"); s != FERRY_OK) return s;
    return status(client->unreserved().reply_error(from_c(*request), text_or(text, "")));
  });
}

namespace {
ferry::Client::Handler c_handler(ferry_message_fn fn, void* user) {
  return [fn, user](const ferry::Message& m) {
    const ferry_message c = to_c(m);
    fn(user, &c);
  };
}
int handled(const ferry::Result<std::size_t>& n, size_t* out) {
  if (!n) return fail(n.error());
  if (out != nullptr) *out = *n;
  return FERRY_OK;
}
}  // namespace

int ferry_client_poll(ferry_client* client, ferry_message_fn fn, void* user, size_t max,
                      size_t* count) {
  return guarded([&]() -> int {
    if (count != nullptr) *count = 0;
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = null_check(reinterpret_cast<const void*>(fn), "the callback"); s != FERRY_OK)
      return s;
    return handled(client->unreserved().poll(c_handler(fn, user), max), count);
  });
}

int ferry_client_wait(ferry_client* client, ferry_message_fn fn, void* user, int64_t timeout_ns,
                      size_t* count) {
  return guarded([&]() -> int {
    if (count != nullptr) *count = 0;
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    if (int s = null_check(reinterpret_cast<const void*>(fn), "the callback"); s != FERRY_OK)
      return s;
    std::chrono::nanoseconds timeout{};
    if (int s = to_duration(timeout_ns, timeout); s != FERRY_OK) return s;
    return handled(client->unreserved().wait(c_handler(fn, user), timeout), count);
  });
}

namespace {
template <class Call>
int bus_call(ferry_client* client, int64_t timeout_ns, Call call) {
  return guarded([&]() -> int {
    if (int s = null_check(client, "the client"); s != FERRY_OK) return s;
    std::chrono::nanoseconds timeout{};
    if (int s = to_duration(timeout_ns, timeout); s != FERRY_OK) return s;
    return status(call(client->unreserved(), timeout));
  });
}
}  // namespace

int ferry_client_subscribe(ferry_client* client, uint16_t type, int64_t timeout_ns) {
  return bus_call(client, timeout_ns, [type](ferry::Client& c, std::chrono::nanoseconds t) {
    return c.subscribe(type, t);
  });
}
int ferry_client_unsubscribe(ferry_client* client, uint16_t type, int64_t timeout_ns) {
  return bus_call(client, timeout_ns, [type](ferry::Client& c, std::chrono::nanoseconds t) {
    return c.unsubscribe(type, t);
  });
}
int ferry_client_serve(ferry_client* client, uint16_t type, int64_t timeout_ns) {
  return bus_call(client, timeout_ns, [type](ferry::Client& c, std::chrono::nanoseconds t) {
    return c.serve(type, t);
  });
}
int ferry_client_unserve(ferry_client* client, uint16_t type, int64_t timeout_ns) {
  return bus_call(client, timeout_ns, [type](ferry::Client& c, std::chrono::nanoseconds t) {
    return c.unserve(type, t);
  });
}

int ferry_client_fd(const ferry_client* client) {
  return client != nullptr ? client->client.fd() : -1;
}
bool ferry_client_prepare_wait(ferry_client* client) {
  if (client == nullptr) return false;
  try {
    return client->client.prepare_wait();
  } catch (...) {
    return false;  // work may be waiting: the caller polls, which reports what failed
  }
}
uint32_t ferry_client_links(const ferry_client* client) {
  return client != nullptr ? client->client.links() : 0;
}
bool ferry_client_connected(const ferry_client* client) {
  return client != nullptr && client->client.connected();
}
uint32_t ferry_client_max_payload(const ferry_client* client) {
  return client != nullptr ? client->client.max_payload() : 0;
}

// ---- Server ----

void ferry_server_options_init(ferry_server_options* o) {
  if (o == nullptr) return;
  const ferry::ServerOptions d;
  *o = ferry_server_options{};
  o->struct_size = sizeof(*o);
  o->max_connections = d.max_connections;
  o->ring_capacity = d.ring_capacity;
  o->batch = d.batch;
  o->crc = d.crc;
  o->wait = FERRY_WAIT_HYBRID;
  o->payload_copy = FERRY_COPY_OTHER_USERS;
}

int ferry_server_create(const ferry_server_options* given, ferry_server** out) {
  return guarded([&]() -> int {
    if (int s = null_check(out, "the ferry_server** to set"); s != FERRY_OK) return s;
    *out = nullptr;
    ferry_server_options c;
    if (int s = read_options(given, ferry_server_options_init, c, "ferry_server_options");
        s != FERRY_OK)
      return s;
    ferry::ServerOptions o;
    if (int s = read_common(c, o, "ferry_server_options"); s != FERRY_OK) return s;
    o.max_connections = c.max_connections;
    o.ring_capacity = c.ring_capacity;
    o.batch = c.batch;
    o.crc = c.crc;
    switch (c.payload_copy) {
      case FERRY_COPY_ALWAYS: o.payload_copy = ferry::PayloadCopy::always; break;
      case FERRY_COPY_NEVER: o.payload_copy = ferry::PayloadCopy::never; break;
      case FERRY_COPY_OTHER_USERS: o.payload_copy = ferry::PayloadCopy::other_users; break;
      default:
        return fail(ferry::Errc::invalid_argument,
                    "ferry_server_options.payload_copy is " +
                        std::to_string(static_cast<int>(c.payload_copy)) +
                        ": FERRY_COPY_OTHER_USERS, FERRY_COPY_ALWAYS or FERRY_COPY_NEVER");
    }
    auto server = ferry::Server::create(std::move(o));
    if (!server) return fail(server.error());
    *out = new ferry_server{std::move(*server)};
    return FERRY_OK;
  });
}

void ferry_server_destroy(ferry_server* server) {
  delete server;
}

namespace {
// What a C handler's ferry_request_fail() turns into: the C++ handler throws it, and the
// server handles it as any handler that threw.
class HandlerFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

ferry::Server::Handler server_handler(ferry_handler_fn fn, void* user) {
  return [fn, user](ferry::Request& r) {
    ferry_request c{r, to_c(r.message()), false, {}};
    fn(user, &c);
    if (c.failed) throw HandlerFailed(c.failure);
  };
}
}  // namespace

int ferry_server_on(ferry_server* server, uint16_t type, ferry_handler_fn fn, void* user) {
  return guarded([&]() -> int {
    if (int s = null_check(server, "the server"); s != FERRY_OK) return s;
    if (int s = null_check(reinterpret_cast<const void*>(fn), "the handler"); s != FERRY_OK)
      return s;
    server->server.on(type, server_handler(fn, user));
    return FERRY_OK;
  });
}

int ferry_server_on_default(ferry_server* server, ferry_handler_fn fn, void* user) {
  return guarded([&]() -> int {
    if (int s = null_check(server, "the server"); s != FERRY_OK) return s;
    if (int s = null_check(reinterpret_cast<const void*>(fn), "the handler"); s != FERRY_OK)
      return s;
    server->server.on_default(server_handler(fn, user));
    return FERRY_OK;
  });
}

int ferry_server_run(ferry_server* server) {
  return guarded([&]() -> int {
    if (int s = null_check(server, "the server"); s != FERRY_OK) return s;
    return status(server->server.run());
  });
}

int ferry_server_run_once(ferry_server* server, int64_t timeout_ns) {
  return guarded([&]() -> int {
    if (int s = null_check(server, "the server"); s != FERRY_OK) return s;
    std::chrono::nanoseconds timeout{};
    if (int s = to_duration(timeout_ns, timeout); s != FERRY_OK) return s;
    return status(server->server.run_once(timeout));
  });
}

void ferry_server_stop(ferry_server* server) {
  if (server != nullptr) server->server.stop();
}

int ferry_server_fd(const ferry_server* server) {
  return server != nullptr ? server->server.fd() : -1;
}

bool ferry_server_prepare_wait(ferry_server* server) {
  if (server == nullptr) return false;
  try {
    return server->server.prepare_wait();
  } catch (...) {
    return false;  // the caller runs a turn, which reports what failed
  }
}

const char* ferry_server_socket_path(const ferry_server* server) {
  return server != nullptr ? server->server.socket_path().c_str() : "";
}

size_t ferry_server_connection_count(const ferry_server* server) {
  return server != nullptr ? server->server.connection_count() : 0;
}

int ferry_server_send(ferry_server* server, uint64_t connection, uint16_t type, const void* payload,
                      size_t size) {
  return guarded([&]() -> int {
    if (int s = null_check(server, "the server"); s != FERRY_OK) return s;
    if (int s = check_payload(payload, size); s != FERRY_OK) return s;
    return status(server->server.send(connection, type, bytes(payload, size)));
  });
}

void ferry_server_disconnect(ferry_server* server, uint64_t connection, const char* why) {
  if (server == nullptr) return;
  try {
    server->server.disconnect(connection, why != nullptr ? std::string_view(why) : "");
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing to report it to; it is closed
  }
}

const ferry_message* ferry_request_message(const ferry_request* request) {
  return request != nullptr ? &request->message : nullptr;
}

uint64_t ferry_request_connection(const ferry_request* request) {
  return request != nullptr ? request->request.connection() : 0;
}

int32_t ferry_request_peer_pid(const ferry_request* request) {
  return request != nullptr ? request->request.peer().pid : 0;
}

uint32_t ferry_request_peer_uid(const ferry_request* request) {
  return request != nullptr ? request->request.peer().uid : 0;
}

int ferry_request_reply(ferry_request* request, const void* payload, size_t size) {
  return guarded([&]() -> int {
    if (int s = null_check(request, "the request"); s != FERRY_OK) return s;
    if (int s = check_payload(payload, size); s != FERRY_OK) return s;
    return status(request->request.reply(bytes(payload, size)));
  });
}

int ferry_request_reply_error(ferry_request* request, const char* text) {
  return guarded([&]() -> int {
    if (int s = null_check(request, "the request"); s != FERRY_OK) return s;
    return status(request->request.reply_error(text_or(text, "")));
  });
}

void ferry_request_retry_later(ferry_request* request) {
  if (request != nullptr) request->request.retry_later();
}

void ferry_request_fail(ferry_request* request, const char* text) {
  if (request == nullptr) return;
  try {
    request->failure = text_or(text, "it failed");
  } catch (...) {
    request->failure.clear();  // out of memory: the reply says only that it failed
  }
  request->failed = true;
}
