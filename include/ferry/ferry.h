/* SPDX-License-Identifier: Apache-2.0 */
/* ferry/ferry.h: ferry's C interface (libferry-c), for C and for every language that calls C.
 *
 *   ferry_client* c;
 *   ferry_client_options o;
 *   ferry_client_options_init(&o);              // then set what you need: o.endpoint = "bus"
 *   if (ferry_client_connect(&o, &c) != FERRY_OK) { puts(ferry_last_error()); return 1; }
 *   ferry_client_send(c, 7, "hello", 5);
 *   ferry_client_close(c);
 *
 * Handles are opaque. Every call that can fail returns a ferry_status; FERRY_OK is 0. On a
 * failure, ferry_last_error() is a message a person can act on (it names the socket, the
 * size, the timeout), valid on this thread until its next failing call. No C++ type or
 * exception crosses this interface; a callback must not unwind through it either (no
 * longjmp out of a handler).
 *
 * Options structs start with their own size, set by their _init function, so a program
 * built against an older ferry.h keeps working with a newer library that has added fields.
 * Timeouts are nanoseconds; FERRY_FOREVER waits without limit.
 *
 * Messages given to a callback (ferry_message, ferry_request) are views valid only until
 * the callback returns: their payload may be in shared memory that the sender can still
 * write. Copy what you keep; verify a copy, never the view.
 *
 * Thread-safety: as the C++ API (docs/c-api.md). A client or a server is driven by one
 * thread at a time; ferry_server_stop() may be called from any thread and from a signal
 * handler; ferry_last_error() is per thread.
 */
#ifndef FERRY_FERRY_H
#define FERRY_FERRY_H
/* A C header: C's headers and typedefs, not their C++ forms. */
/* NOLINTBEGIN(modernize-deprecated-headers,modernize-use-using) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/version.h"

#if defined(FERRY_BUILDING_C_LIBRARY)
#define FERRY_C_API __attribute__((visibility("default")))
#else
#define FERRY_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* What a call returned. The numbers are stable; ferry_status_name() gives the short names
 * ("timed_out"), which are also the C++ ferry::Errc names. */
typedef enum ferry_status {
  FERRY_OK = 0,
  FERRY_WOULD_BLOCK = 1,      /* ring full or empty: retry later */
  FERRY_TIMED_OUT = 2,        /* a wait ran past its deadline */
  FERRY_TOO_LARGE = 3,        /* more than the connection's largest payload */
  FERRY_INVALID_ARGUMENT = 4, /* can never succeed as called (a NULL handle, a reserved type) */
  FERRY_BAD_LENGTH = 5,
  FERRY_BAD_VERSION = 6, /* the peer speaks another protocol version */
  FERRY_BAD_FLAGS = 7,
  FERRY_BAD_CRC = 8,
  FERRY_BAD_SEQUENCE = 9,
  FERRY_CORRUPT = 10,    /* shared memory holds what no correct peer writes */
  FERRY_PERMISSION = 11, /* refused credentials, or a mode or directory check failed */
  FERRY_EXISTS = 12,     /* another server listens on that endpoint */
  FERRY_NOT_FOUND = 13,  /* no such endpoint (is ferryd running?), or no such connection */
  FERRY_NO_MEMORY = 14,
  FERRY_SYSTEM = 15,       /* another OS error; see the message */
  FERRY_DISCONNECTED = 16, /* the peer closed the connection or died */
  FERRY_BUSY = 17,         /* the server is at its connection limit */
  FERRY_REMOTE = 18        /* the peer answered with an error reply: the message is its text */
} ferry_status;

/* The message of this thread's last failure ("" if none yet). */
FERRY_C_API const char* ferry_last_error(void);
/* The short name of a status ("timed_out"); "unknown" for a number that is none. */
FERRY_C_API const char* ferry_status_name(int status);

/* The library's version ("0.1.0") and FERRY_VERSION_NUMBER, to compare with the header's. */
FERRY_C_API const char* ferry_version(void);
FERRY_C_API uint32_t ferry_version_number(void);

#define FERRY_FOREVER INT64_MAX
/* Message types from FERRY_RESERVED_TYPES up are ferry's own. */
#define FERRY_RESERVED_TYPES 0xff00u

/* ferry_message.flags */
#define FERRY_FLAG_REPLY 0x04u  /* a reply to `correlation` */
#define FERRY_FLAG_ERROR 0x08u  /* an error reply: the payload is its text */
#define FERRY_FLAG_RESENT 0x20u /* sent again after a server died before consuming it */

typedef enum ferry_wait_strategy {
  FERRY_WAIT_HYBRID = 0, /* spin for a while, then sleep (the default) */
  FERRY_WAIT_SPIN = 1,
  FERRY_WAIT_BLOCK = 2
} ferry_wait_strategy;

/* One received message; a view valid only inside the callback that got it. */
typedef struct ferry_message {
  uint16_t type;
  uint8_t flags;        /* FERRY_FLAG_* */
  uint32_t correlation; /* non-zero on requests and replies */
  const void* payload;
  size_t size;
  bool in_shared_memory; /* the payload is in the ring, where the sender can still write */
} ferry_message;

/* A request (correlation set, not a reply) expects an answer. */
FERRY_C_API bool ferry_message_is_request(const ferry_message* message);

/* ---- Client: a connection to ferryd's bus or to a server's endpoint ---- */

typedef struct ferry_client ferry_client;

typedef struct ferry_client_options {
  size_t struct_size;      /* sizeof(ferry_client_options), set by _init */
  const char* endpoint;    /* "bus" (ferryd) by default */
  const char* session;     /* NULL: FERRY_SESSION, else the login session */
  const char* socket_path; /* a server's socket path instead of endpoint and session */
  const char* name;        /* shown to the server; NULL: the program's name */
  uint32_t ring_capacity;  /* per direction; 0: the server's default */
  int64_t connect_timeout_ns;
  int64_t send_timeout_ns; /* how long a send waits for room in a full ring */
  bool reconnect;          /* reconnect by itself when the server goes away (default true) */
  bool echo;               /* receive its own publications of subscribed types (default true) */
  ferry_wait_strategy wait;
} ferry_client_options;

FERRY_C_API void ferry_client_options_init(ferry_client_options* options);

/* Errors: FERRY_NOT_FOUND (no endpoint: is ferryd running?), FERRY_PERMISSION,
 * FERRY_BAD_VERSION, FERRY_BUSY, FERRY_TIMED_OUT, FERRY_INVALID_ARGUMENT. */
FERRY_C_API int ferry_client_connect(const ferry_client_options* options, ferry_client** out);
/* Closes the connection and frees the client; NULL is fine. */
FERRY_C_API void ferry_client_close(ferry_client* client);

/* One-way message; copies the payload into the ring (waiting up to send_timeout_ns for room). */
FERRY_C_API int ferry_client_send(ferry_client* client, uint16_t type, const void* payload,
                                  size_t size);
/* Batching: sends `count` messages in order (each as ferry_client_send would) and publishes
 * them at once, with at most one wake-up of the server; a ring that fills publishes what is
 * staged and waits for room. *sent (if not NULL) is how many went: FERRY_OK when all did,
 * else the error of the first that did not, the ones before it sent. */
typedef struct ferry_outgoing {
  uint16_t type;
  const void* payload;
  size_t size;
} ferry_outgoing;
FERRY_C_API int ferry_client_send_batch(ferry_client* client, const ferry_outgoing* messages,
                                        size_t count, size_t* sent);
/* Zero-copy: room for `size` bytes in the ring (8-byte aligned), then commit what was written
 * (at most `size` bytes). A send, request, reply, poll, wait or bus call in between ends the
 * reservation (the commit is then refused with FERRY_INVALID_ARGUMENT). */
FERRY_C_API int ferry_client_reserve(ferry_client* client, size_t size, void** out);
FERRY_C_API int ferry_client_commit(ferry_client* client, size_t size, uint16_t type);

/* A reply to ferry_client_request(): its payload is the caller's (malloc'd), freed by
 * ferry_reply_free(). */
typedef struct ferry_reply {
  uint16_t type;
  uint8_t flags;
  void* payload;
  size_t size;
} ferry_reply;
FERRY_C_API void ferry_reply_free(ferry_reply* reply);

/* Sends a request and waits up to timeout_ns for its reply. Messages that arrive meanwhile
 * are kept for poll/wait. An error reply is FERRY_REMOTE with its text as the message. */
FERRY_C_API int ferry_client_request(ferry_client* client, uint16_t type, const void* payload,
                                     size_t size, int64_t timeout_ns, ferry_reply* out);
/* Sends a request without waiting; its reply comes to poll/wait as a message whose
 * correlation is *correlation (may be NULL). */
FERRY_C_API int ferry_client_send_request(ferry_client* client, uint16_t type, const void* payload,
                                          size_t size, uint32_t* correlation);
/* Answers a request this client received (it serves the type). */
FERRY_C_API int ferry_client_reply(ferry_client* client, const ferry_message* request,
                                   const void* payload, size_t size);
FERRY_C_API int ferry_client_reply_error(ferry_client* client, const ferry_message* request,
                                         const char* text);

typedef void (*ferry_message_fn)(void* user, const ferry_message* message);
/* Calls `fn` for up to `max` messages already waiting; never blocks. *handled (may be NULL)
 * is how many. */
FERRY_C_API int ferry_client_poll(ferry_client* client, ferry_message_fn fn, void* user, size_t max,
                                  size_t* handled);
/* Like poll, but first waits up to timeout_ns for one; *handled is 0 on timeout. */
FERRY_C_API int ferry_client_wait(ferry_client* client, ferry_message_fn fn, void* user,
                                  int64_t timeout_ns, size_t* handled);

/* ferryd's bus: receive every message of `type` any client publishes, or serve its requests.
 * Each waits up to timeout_ns for ferryd's acknowledgement. */
FERRY_C_API int ferry_client_subscribe(ferry_client* client, uint16_t type, int64_t timeout_ns);
FERRY_C_API int ferry_client_unsubscribe(ferry_client* client, uint16_t type, int64_t timeout_ns);
FERRY_C_API int ferry_client_serve(ferry_client* client, uint16_t type, int64_t timeout_ns);
FERRY_C_API int ferry_client_unserve(ferry_client* client, uint16_t type, int64_t timeout_ns);

/* For an event loop of your own: wait for fd() to become readable only after prepare_wait()
 * returned true, then poll. fd() is -1 while not connected, and a new descriptor whenever
 * links() changes (register it again then). */
FERRY_C_API int ferry_client_fd(const ferry_client* client);
FERRY_C_API bool ferry_client_prepare_wait(ferry_client* client);
FERRY_C_API uint32_t ferry_client_links(const ferry_client* client);
FERRY_C_API bool ferry_client_connected(const ferry_client* client);
FERRY_C_API uint32_t ferry_client_max_payload(const ferry_client* client);

/* ---- Server: an endpoint of one's own that many clients connect to ---- */

typedef struct ferry_server ferry_server;
typedef struct ferry_request ferry_request;

typedef enum ferry_payload_copy {
  FERRY_COPY_OTHER_USERS = 0, /* copy payloads of peers of another uid (the default) */
  FERRY_COPY_ALWAYS = 1,
  FERRY_COPY_NEVER = 2 /* zero-copy for every peer: trusted peers only */
} ferry_payload_copy;

typedef struct ferry_server_options {
  size_t struct_size;      /* sizeof(ferry_server_options), set by _init */
  const char* endpoint;    /* socket name in the session directory; "bus" by default */
  const char* session;     /* NULL: FERRY_SESSION, else the login session */
  const char* socket_path; /* a socket path of your choosing instead */
  uint32_t max_connections;
  uint32_t ring_capacity; /* per direction, when the client asks for none */
  uint32_t batch;         /* most messages served from one connection per turn */
  bool crc;               /* frames carry a checked CRC32C (default true) */
  ferry_wait_strategy wait;
  ferry_payload_copy payload_copy;
} ferry_server_options;

FERRY_C_API void ferry_server_options_init(ferry_server_options* options);

/* Listens on the endpoint. Errors: FERRY_EXISTS (another server listens there),
 * FERRY_PERMISSION, FERRY_INVALID_ARGUMENT. */
FERRY_C_API int ferry_server_create(const ferry_server_options* options, ferry_server** out);
/* Shuts the endpoint down and frees the server; NULL is fine. Not from inside a handler. */
FERRY_C_API void ferry_server_destroy(ferry_server* server);

/* Called on the server's thread for each message of its type; the request is valid only
 * during the call. A handler answers a request with ferry_request_reply() or _reply_error(),
 * or reports that it failed with ferry_request_fail(). */
typedef void (*ferry_handler_fn)(void* user, ferry_request* request);
/* Routes messages of `type` to fn (replacing an earlier one). */
FERRY_C_API int ferry_server_on(ferry_server* server, uint16_t type, ferry_handler_fn fn,
                                void* user);
/* For types without a handler (without one: requests get an error reply naming the type). */
FERRY_C_API int ferry_server_on_default(ferry_server* server, ferry_handler_fn fn, void* user);

/* Serves until ferry_server_stop(). */
FERRY_C_API int ferry_server_run(ferry_server* server);
/* One turn; when there was nothing to do, waits up to timeout_ns for something. */
FERRY_C_API int ferry_server_run_once(ferry_server* server, int64_t timeout_ns);
/* Makes run() return soon. Any thread, and async-signal-safe. */
FERRY_C_API void ferry_server_stop(ferry_server* server);
/* For a loop of your own: an epoll descriptor readable when the server has work, after
 * prepare_wait() returned true (false: work is waiting, call run_once(server, 0)). */
FERRY_C_API int ferry_server_fd(const ferry_server* server);
FERRY_C_API bool ferry_server_prepare_wait(ferry_server* server);
/* The socket's path (valid as long as the server). */
FERRY_C_API const char* ferry_server_socket_path(const ferry_server* server);
FERRY_C_API size_t ferry_server_connection_count(const ferry_server* server);
/* Pushes a message to one connection. FERRY_WOULD_BLOCK: its ring is full. */
FERRY_C_API int ferry_server_send(ferry_server* server, uint64_t connection, uint16_t type,
                                  const void* payload, size_t size);
/* Closes a connection; `why` (may be NULL) is what the client's error says. */
FERRY_C_API void ferry_server_disconnect(ferry_server* server, uint64_t connection,
                                         const char* why);

/* The message being handled (a view valid during the handler call). */
FERRY_C_API const ferry_message* ferry_request_message(const ferry_request* request);
/* The connection it came from (for ferry_server_send and ferry_server_disconnect). */
FERRY_C_API uint64_t ferry_request_connection(const ferry_request* request);
/* The peer's process id and user id. */
FERRY_C_API int32_t ferry_request_peer_pid(const ferry_request* request);
FERRY_C_API uint32_t ferry_request_peer_uid(const ferry_request* request);
/* Answers it. FERRY_WOULD_BLOCK: the requester's ring is full (retry_later, then again). */
FERRY_C_API int ferry_request_reply(ferry_request* request, const void* payload, size_t size);
FERRY_C_API int ferry_request_reply_error(ferry_request* request, const char* text);
/* Leaves the message in the ring; the handler gets it again on a later turn. */
FERRY_C_API void ferry_request_retry_later(ferry_request* request);
/* The handler failed: like a C++ handler that throws, the message counts as handled, an
 * unanswered request gets the error reply "the handler for message type T at <path> failed:
 * <text>" and the server counts a handler error. Put no payload bytes in `text`. */
FERRY_C_API void ferry_request_fail(ferry_request* request, const char* text);

#ifdef __cplusplus
}
#endif

/* NOLINTEND(modernize-deprecated-headers,modernize-use-using) */
#endif /* FERRY_FERRY_H */
