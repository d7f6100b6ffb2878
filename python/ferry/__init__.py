# SPDX-License-Identifier: Apache-2.0
"""ferry for Python: shared-memory messaging between processes (docs/python.md).

    import ferry

    with ferry.Client() as bus:                     # ferryd's bus
        bus.subscribe(7)
        bus.send(7, b"hello")
        bus.wait(lambda m: print(m.type, bytes(m.payload)), timeout=1.0)

    with ferry.Server(endpoint="upper") as server:  # an endpoint of one's own
        server.on(1, lambda req: req.reply(bytes(req.payload).upper()))
        server.run()                                # until stop() or Ctrl-C

A received payload is a read-only memoryview straight into the shared-memory ring, valid
only inside the handler that got it (it is released when the handler returns): take
bytes(m.payload) to keep it. Every wait releases the GIL. Errors are ferry.Error subclasses
carrying ferry's message and status code.
"""
import collections

from ._ffi import constants, ffi, lib

__all__ = [
    "Client", "Server", "Message", "Request", "Reply", "Error", "Timeout", "NotFound",
    "TooLarge", "Disconnected", "RemoteError", "PermissionDenied", "Exists", "InvalidArgument",
    "WouldBlock", "Busy", "version", "FOREVER", "RESERVED_TYPES",
]

FOREVER = None  # a timeout of None waits without limit
RESERVED_TYPES = constants["FERRY_RESERVED_TYPES"]
_FLAG_REPLY = constants["FERRY_FLAG_REPLY"]
_FLAG_ERROR = constants["FERRY_FLAG_ERROR"]
_FLAG_RESENT = constants["FERRY_FLAG_RESENT"]
_WAITS = {"hybrid": lib.FERRY_WAIT_HYBRID, "spin": lib.FERRY_WAIT_SPIN,
          "block": lib.FERRY_WAIT_BLOCK}
# How long one wait inside Server.run() and Client.wait(None) lasts at most, so that Python
# gets to run its signal handlers (Ctrl-C) between them.
_SLICE = 0.2


def version():
    """The version of the libferry-c in use ("0.1.0")."""
    return ffi.string(lib.ferry_version()).decode()


# ---- errors ----

class Error(Exception):
    """A ferry call failed: str(e) is ferry's message, e.code its short name ("timed_out"),
    e.status its number (ferry_status in ferry.h)."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status
        self.code = ffi.string(lib.ferry_status_name(status)).decode()


class Timeout(Error, TimeoutError):
    """A wait ran past its deadline."""


class NotFound(Error, FileNotFoundError):
    """No such endpoint (is ferryd running?) or connection."""


class TooLarge(Error, ValueError):
    """More than the connection's largest payload (Client.max_payload)."""


class InvalidArgument(Error, ValueError):
    """A call that can never succeed as made."""


class Disconnected(Error, ConnectionError):
    """The peer closed the connection or died."""


class RemoteError(Error):
    """The peer answered with an error reply; the message is its text."""


class PermissionDenied(Error, PermissionError):
    """Refused credentials, or a mode or directory check failed."""


class Exists(Error, FileExistsError):
    """Another server listens on that endpoint."""


class WouldBlock(Error, BlockingIOError):
    """A ring is full: retry later."""


class Busy(Error):
    """The server is at its connection limit."""


_ERRORS = {
    lib.FERRY_TIMED_OUT: Timeout, lib.FERRY_NOT_FOUND: NotFound, lib.FERRY_TOO_LARGE: TooLarge,
    lib.FERRY_INVALID_ARGUMENT: InvalidArgument, lib.FERRY_DISCONNECTED: Disconnected,
    lib.FERRY_REMOTE: RemoteError, lib.FERRY_PERMISSION: PermissionDenied,
    lib.FERRY_EXISTS: Exists, lib.FERRY_WOULD_BLOCK: WouldBlock, lib.FERRY_BUSY: Busy,
}


def _check(status):
    if status != lib.FERRY_OK:
        message = ffi.string(lib.ferry_last_error()).decode(errors="replace")
        raise _ERRORS.get(status, Error)(message, status)


def _data(payload):
    """bytes-like or str (UTF-8) as (pointer, size) without a copy where the buffer allows."""
    if type(payload) is bytes:  # the common case, first
        return (ffi.from_buffer(payload), len(payload)) if payload else (ffi.NULL, 0)
    if isinstance(payload, str):
        payload = payload.encode()
    if payload is None or len(payload) == 0:
        return ffi.NULL, 0
    view = memoryview(payload)
    return ffi.from_buffer(view), view.nbytes


def _nanoseconds(timeout):
    if timeout is None:
        return constants["FERRY_FOREVER"]
    if timeout < 0:
        raise ValueError(f"a negative timeout ({timeout} s); use 0 or None (forever)")
    return min(int(timeout * 1e9), constants["FERRY_FOREVER"])


def _choice(table, value, what):
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{what}={value!r}: one of {', '.join(map(repr, table))}") from None


_COPIES = {"other_users": lib.FERRY_COPY_OTHER_USERS, "always": lib.FERRY_COPY_ALWAYS,
           "never": lib.FERRY_COPY_NEVER}


def _text(value):
    return ffi.NULL if value is None else ffi.new("char[]", value.encode())


# ---- messages ----

class Message:
    """One received message. payload is a read-only memoryview valid only inside the
    handler that got it; bytes(m.payload) keeps a copy."""

    __slots__ = ("type", "flags", "correlation", "payload", "in_shared_memory")

    def __init__(self, c_message, payload):
        self.type = c_message.type
        self.flags = c_message.flags
        self.correlation = c_message.correlation
        self.in_shared_memory = bool(c_message.in_shared_memory)
        self.payload = payload

    @property
    def is_request(self):
        return self.correlation != 0 and not self.flags & _FLAG_REPLY

    @property
    def is_reply(self):
        return bool(self.flags & _FLAG_REPLY)

    @property
    def is_error(self):
        return bool(self.flags & _FLAG_ERROR)

    @property
    def is_resent(self):
        return bool(self.flags & _FLAG_RESENT)

    @property
    def text(self):
        """The payload decoded as UTF-8 (a copy)."""
        return bytes(self.payload).decode()

    def __repr__(self):
        return f"ferry.Message(type={self.type}, size={len(self.payload)})"


class Reply:
    """A reply to Client.request(): its payload is bytes of its own."""

    __slots__ = ("type", "flags", "payload")

    def __init__(self, type_, flags, payload):
        self.type = type_
        self.flags = flags
        self.payload = payload

    @property
    def text(self):
        return self.payload.decode()

    def __repr__(self):
        return f"ferry.Reply(type={self.type}, payload={self.payload!r})"


def _view(c_message):
    """A read-only memoryview of the message's payload, without a copy."""
    if c_message.size == 0:
        return memoryview(b"")
    return memoryview(ffi.buffer(c_message.payload, c_message.size)).toreadonly()


def _release(view):
    try:
        view.release()
    except ValueError:
        pass  # something still exports it (a slice, numpy): it is the holder's now


# ---- the client ----

@ffi.callback("void(void*, const ferry_message*)")
def _on_message(user, c_message):
    client = ffi.from_handle(user)
    if client._raised is not None:
        # The handler raised for an earlier message of this call: keep the rest (copied) for
        # the next poll or wait, so that none is lost.
        client._pending.append((c_message.type, c_message.flags, c_message.correlation,
                                bytes(_view(c_message))))
        return
    view = _view(c_message)
    try:
        client._handler(Message(c_message, view))
    except BaseException as e:  # noqa: B902: re-raised when the C call returns
        client._raised = e
    finally:
        _release(view)


class _Kept:
    """A message the binding kept after a handler raised (its own copy), shaped like the
    ferry_message that Message reads."""

    __slots__ = ("type", "flags", "correlation", "payload", "size", "in_shared_memory")

    def __init__(self, type_, flags, correlation, payload):
        self.type, self.flags, self.correlation = type_, flags, correlation
        self.payload, self.size, self.in_shared_memory = payload, len(payload), False


class _Closing:
    """close() frees the C handle (self._c, by the class's _free); so do the with block and
    the garbage collector. Closing twice is fine."""

    _c = None

    def close(self):
        if self._c is not None:
            c, self._c = self._c, None
            self._free(c)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Client(_Closing):
    """A connection to ferryd's bus (endpoint "bus", the default) or to a server's endpoint.
    A Client is used from one thread at a time; close() (or the with block) closes it."""

    def __init__(self, endpoint="bus", *, session=None, socket_path=None, name=None,
                 ring_capacity=0, connect_timeout=2.0, send_timeout=5.0, reconnect=True,
                 echo=True, wait="hybrid"):
        o = ffi.new("ferry_client_options*")
        lib.ferry_client_options_init(o)
        keep = [_text(endpoint), _text(session), _text(socket_path), _text(name)]
        o.endpoint, o.session, o.socket_path, o.name = keep
        o.ring_capacity = ring_capacity
        o.connect_timeout_ns = _nanoseconds(connect_timeout)
        o.send_timeout_ns = _nanoseconds(send_timeout)
        o.reconnect = reconnect
        o.echo = echo
        o.wait = _choice(_WAITS, wait, "wait")
        out = ffi.new("ferry_client**")
        _check(lib.ferry_client_connect(o, out))
        self._c = out[0]
        self._handle = ffi.new_handle(self)
        # Reused by every call (a client is used by one thread at a time).
        self._reply = ffi.new("ferry_reply*")
        self._count = ffi.new("size_t*")
        self._handler = None
        self._raised = None
        self._pending = collections.deque()

    _free = staticmethod(lib.ferry_client_close)

    def _client(self):
        if self._c is None:
            raise Disconnected("the client is closed", lib.FERRY_DISCONNECTED)
        return self._c

    def send(self, type_, payload=b""):
        """Sends a one-way message (bytes-like, or str as UTF-8); waits up to send_timeout
        for room in a full ring."""
        data, size = _data(payload)
        _check(lib.ferry_client_send(self._client(), type_, data, size))

    def send_batch(self, messages):
        """Sends (type, payload) pairs in order with one call into ferry, published at once
        (at most one wake-up of the server for the lot). If one cannot go, raises as send()
        would, with e.sent the number that went before it."""
        messages = list(messages)
        out = ffi.new("ferry_outgoing[]", len(messages))
        keep = []  # the payloads' buffers stay alive through the call
        for slot, (type_, payload) in zip(out, messages):
            data, size = _data(payload)
            keep.append(data)
            slot.type, slot.payload, slot.size = type_, data, size
        sent = self._count
        status = lib.ferry_client_send_batch(self._client(), out, len(messages), sent)
        try:
            _check(status)
        except Error as e:
            e.sent = sent[0]
            raise

    def reserve(self, size, type_):
        """Zero-copy: `with client.reserve(n, type) as room: room[:n] = ...` writes the
        payload in the ring and sends it when the block ends (not if it raises)."""
        return _Reservation(self, size, type_)

    def request(self, type_, payload=b"", timeout=5.0):
        """Sends a request and waits up to `timeout` seconds (None: forever) for its Reply.
        An error reply raises RemoteError with its text."""
        data, size = _data(payload)
        reply = self._reply
        _check(lib.ferry_client_request(self._client(), type_, data, size,
                                        _nanoseconds(timeout), reply))
        try:
            return Reply(reply.type, reply.flags, bytes(ffi.buffer(reply.payload, reply.size)))
        finally:
            lib.ferry_reply_free(reply)

    def send_request(self, type_, payload=b""):
        """Sends a request without waiting; returns its correlation id, which its reply
        (a Message with is_reply) carries to poll() and wait()."""
        data, size = _data(payload)
        corr = ffi.new("uint32_t*")
        _check(lib.ferry_client_send_request(self._client(), type_, data, size, corr))
        return corr[0]

    def reply(self, request, payload=b""):
        """Answers a request this client received (it serves the type)."""
        data, size = _data(payload)
        _check(lib.ferry_client_reply(self._client(), self._request(request), data, size))

    def reply_error(self, request, text):
        _check(lib.ferry_client_reply_error(self._client(), self._request(request),
                                            text.encode()))

    @staticmethod
    def _request(message):
        c = ffi.new("ferry_message*")
        c.type, c.flags, c.correlation = message.type, message.flags, message.correlation
        return c

    def poll(self, handler, max=None):  # noqa: A002: the C++ API's name
        """Calls handler(message) for up to `max` messages already waiting; never blocks.
        Returns how many."""
        return self._handle_messages(handler, max, None)

    def wait(self, handler, timeout=None):
        """Waits up to `timeout` seconds (None: forever) for a message, then handles what
        is waiting as poll() does. Returns how many (0 on timeout)."""
        if timeout is not None:
            return self._handle_messages(handler, None, _nanoseconds(timeout))
        while True:  # in slices, so that Python sees Ctrl-C between them
            handled = self._handle_messages(handler, None, _nanoseconds(_SLICE))
            if handled:
                return handled

    def _handle_messages(self, handler, max_, wait_ns):
        """The messages kept after a handler raised first (then without waiting), then the C
        poll (wait_ns None) or wait; a handler's exception is raised once the call returns."""
        handled = 0
        while self._pending and (max_ is None or handled < max_):
            kept = _Kept(*self._pending.popleft())
            view = memoryview(kept.payload).toreadonly()
            try:
                handler(Message(kept, view))
            finally:
                _release(view)
            handled += 1
        if max_ is not None and handled >= max_:
            return handled
        count = self._count
        self._handler, self._raised = handler, None
        try:
            if wait_ns is None or handled:
                limit = ffi.cast("size_t", -1) if max_ is None else max_ - handled
                status = lib.ferry_client_poll(self._client(), _on_message, self._handle, limit,
                                               count)
            else:
                status = lib.ferry_client_wait(self._client(), _on_message, self._handle,
                                               wait_ns, count)
        finally:
            self._handler = None
        raised, self._raised = self._raised, None
        if raised is not None:
            raise raised
        _check(status)
        return handled + count[0]

    def subscribe(self, type_, timeout=5.0):
        """Receive every message of `type_` any client of ferryd publishes."""
        _check(lib.ferry_client_subscribe(self._client(), type_, _nanoseconds(timeout)))

    def unsubscribe(self, type_, timeout=5.0):
        _check(lib.ferry_client_unsubscribe(self._client(), type_, _nanoseconds(timeout)))

    def serve(self, type_, timeout=5.0):
        """Receive the requests of `type_` sent through ferryd, to answer with reply()."""
        _check(lib.ferry_client_serve(self._client(), type_, _nanoseconds(timeout)))

    def unserve(self, type_, timeout=5.0):
        _check(lib.ferry_client_unserve(self._client(), type_, _nanoseconds(timeout)))

    def fileno(self):
        """For selectors and asyncio: readable when a message may be waiting, but only after
        prepare_wait() returned True. A new descriptor whenever links changes."""
        return lib.ferry_client_fd(self._client())

    def prepare_wait(self):
        return bool(lib.ferry_client_prepare_wait(self._client()))

    @property
    def links(self):
        return lib.ferry_client_links(self._client())

    @property
    def connected(self):
        return self._c is not None and bool(lib.ferry_client_connected(self._c))

    @property
    def max_payload(self):
        return lib.ferry_client_max_payload(self._client())


class _Reservation:
    def __init__(self, client, size, type_):
        self._client, self._size, self._type = client, size, type_
        self._view = None

    def __enter__(self):
        room = ffi.new("void**")
        _check(lib.ferry_client_reserve(self._client._client(), self._size, room))
        self._view = memoryview(ffi.buffer(room[0], self._size))
        return self._view

    def __exit__(self, exc_type, *exc):
        _release(self._view)
        if exc_type is None:
            _check(lib.ferry_client_commit(self._client._client(), self._size, self._type))
        # On an exception nothing is committed: the next reservation reuses the room.


# ---- the server ----

class Request:
    """A message being handled by a Server; valid only during the handler call."""

    __slots__ = ("_c", "message")

    def __init__(self, c_request, message):
        self._c = c_request
        self.message = message

    @property
    def type(self):
        return self.message.type

    @property
    def payload(self):
        return self.message.payload

    @property
    def is_request(self):
        return self.message.is_request

    @property
    def connection(self):
        """The connection it came from, for Server.send() and Server.disconnect()."""
        return lib.ferry_request_connection(self._c)

    @property
    def peer_pid(self):
        return lib.ferry_request_peer_pid(self._c)

    @property
    def peer_uid(self):
        return lib.ferry_request_peer_uid(self._c)

    def reply(self, payload=b""):
        data, size = _data(payload)
        _check(lib.ferry_request_reply(self._c, data, size))

    def reply_error(self, text):
        _check(lib.ferry_request_reply_error(self._c, text.encode()))

    def retry_later(self):
        """Leaves the message in the ring; the handler gets it again on a later turn."""
        lib.ferry_request_retry_later(self._c)


@ffi.callback("void(void*, ferry_request*)")
def _on_request(user, c_request):
    server, handler = ffi.from_handle(user)
    c_message = lib.ferry_request_message(c_request)
    view = _view(c_message)
    try:
        handler(Request(c_request, Message(c_message, view)))
    except Exception as e:  # as a C++ handler that throws: an error reply, counted
        lib.ferry_request_fail(c_request, f"{type(e).__name__}: {e}".encode(errors="replace"))
    except BaseException as e:  # KeyboardInterrupt, SystemExit: stop, re-raised by run()
        lib.ferry_request_fail(c_request, type(e).__name__.encode())
        server._raised = e
        lib.ferry_server_stop(server._c)
    finally:
        _release(view)


class Server(_Closing):
    """An endpoint of one's own that clients (Client(endpoint=...), ferry request
    --endpoint) connect to. Handlers run on the thread that calls run() or run_once()."""

    def __init__(self, endpoint="bus", *, session=None, socket_path=None, max_connections=None,
                 ring_capacity=None, batch=None, crc=True, wait="hybrid",
                 payload_copy="other_users"):
        o = ffi.new("ferry_server_options*")
        lib.ferry_server_options_init(o)
        keep = [_text(endpoint), _text(session), _text(socket_path)]
        o.endpoint, o.session, o.socket_path = keep
        if max_connections is not None:
            o.max_connections = max_connections
        if ring_capacity is not None:
            o.ring_capacity = ring_capacity
        if batch is not None:
            o.batch = batch
        o.crc = crc
        o.wait = _choice(_WAITS, wait, "wait")
        o.payload_copy = _choice(_COPIES, payload_copy, "payload_copy")
        out = ffi.new("ferry_server**")
        _check(lib.ferry_server_create(o, out))
        self._c = out[0]
        self._handles = []
        self._stopped = False
        self._raised = None

    def on(self, type_, handler=None):
        """Routes messages of `type_` to handler(request); as a decorator: @server.on(1)."""
        if handler is None:
            return lambda fn: self.on(type_, fn) or fn
        handle = ffi.new_handle((self, handler))
        self._handles.append(handle)
        _check(lib.ferry_server_on(self._server(), type_, _on_request, handle))
        return None

    def on_default(self, handler):
        handle = ffi.new_handle((self, handler))
        self._handles.append(handle)
        _check(lib.ferry_server_on_default(self._server(), _on_request, handle))

    _free = staticmethod(lib.ferry_server_destroy)

    def _server(self):
        if self._c is None:
            raise InvalidArgument("the server is closed", lib.FERRY_INVALID_ARGUMENT)
        return self._c

    def run(self):
        """Serves until stop() (from a handler, another thread or a signal handler) or
        Ctrl-C."""
        self._stopped = False
        while not self._stopped:
            self.run_once(_SLICE)

    def run_once(self, timeout=0):
        """One turn; when there was nothing to do, waits up to `timeout` seconds."""
        status = lib.ferry_server_run_once(self._server(), _nanoseconds(timeout))
        raised, self._raised = self._raised, None
        if raised is not None:
            self._stopped = True
            raise raised
        _check(status)

    def stop(self):
        self._stopped = True
        if self._c is not None:
            lib.ferry_server_stop(self._c)

    def send(self, connection, type_, payload=b""):
        """Pushes a message to one connection (WouldBlock: its ring is full)."""
        data, size = _data(payload)
        _check(lib.ferry_server_send(self._server(), connection, type_, data, size))

    def disconnect(self, connection, why=None):
        lib.ferry_server_disconnect(self._server(), connection, _text(why))

    def fileno(self):
        """An epoll descriptor readable when the server has work, after prepare_wait()
        returned True; then run_once(0)."""
        return lib.ferry_server_fd(self._server())

    def prepare_wait(self):
        return bool(lib.ferry_server_prepare_wait(self._server()))

    @property
    def socket_path(self):
        return ffi.string(lib.ferry_server_socket_path(self._server())).decode()

    @property
    def connection_count(self):
        return lib.ferry_server_connection_count(self._server())

