# SPDX-License-Identifier: Apache-2.0
"""The Python binding against real processes: ferryd, ferry's C++ command and C++ servers,
in a private session per test."""
import pathlib
import re
import selectors
import subprocess
import sys
import threading
import time

import pytest

import ferry
from conftest import ferry_cli


def test_the_installed_package_is_the_one_tested():
    # pip installed it with the build's libferry-c bundled (tests/run.sh).
    assert "site-packages" in ferry.__file__


def test_version_is_the_librarys():
    assert ferry_cli("--version").stdout.decode().split()[-1] == ferry.version()


def test_python_client_talks_to_a_cpp_server(processes, ferryd):
    # The C++ service of examples/loops: its own Server answers type 1 in upper case.
    service = processes.start("example-epoll-loop", "loop-py", stdout=subprocess.PIPE, text=True)
    assert service.stdout.readline().strip() == "epoll-loop: ready"
    with ferry.Client("loop-py") as c:
        reply = c.request(1, "shout", timeout=5)
        assert reply.payload == b"SHOUT" and reply.text == "SHOUT" and reply.type == 1
        reply = c.request(1, memoryview(b"bytes too"), timeout=5)
        assert reply.payload == b"BYTES TOO"


def test_python_server_answers_the_cpp_ferry_request(session):
    with ferry.Server("py-upper") as server:
        calls = []

        @server.on(1)
        def upper(req):
            calls.append((req.type, req.is_request, req.peer_pid > 0, req.connection > 0))
            req.reply(bytes(req.payload).upper())

        thread = threading.Thread(target=server.run)
        thread.start()
        try:
            done = ferry_cli("request", "--endpoint", "py-upper", "--type", "1", "--data", "hi")
        finally:
            server.stop()
            thread.join()
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"HI"
        assert calls == [(1, True, True, True)]


def test_publish_subscribe_and_serve_through_ferryd(ferryd):
    with ferry.Client() as bus:
        bus.subscribe(42)
        sent = ferry_cli("send", "--type", "42", "--data", "from C++")
        assert sent.returncode == 0, sent.stderr
        got = []
        assert bus.wait(lambda m: got.append((m.type, bytes(m.payload), m.in_shared_memory)),
                        timeout=5) == 1
        assert got == [(42, b"from C++", True)]

        # Serving a type on the bus: the C++ `ferry request` is answered by this client.
        bus.serve(7)
        answer = {}

        def requester():
            answer["done"] = ferry_cli("request", "--type", "7", "--data", "ping")

        t = threading.Thread(target=requester)
        t.start()
        requests = []
        deadline = time.monotonic() + 10
        while not requests and time.monotonic() < deadline:
            bus.wait(lambda m: requests.append(m.is_request) or bus.reply(m, b"pong"), timeout=1)
        t.join()
        assert requests == [True]
        assert answer["done"].returncode == 0, answer["done"].stderr
        assert answer["done"].stdout == b"pong"


def test_payload_views_are_zero_copy_and_released_after_the_handler(ferryd):
    with ferry.Client() as bus:
        bus.subscribe(3)
        bus.send(3, b"x" * 100)
        kept = []
        bus.wait(kept.append, timeout=5)
        (m,) = kept
        assert m.in_shared_memory
        with pytest.raises(ValueError):  # the view was released when the handler returned
            bytes(m.payload)
        bus.send(3, b"abc")

        def handler(msg):
            assert msg.payload.readonly
            with pytest.raises(TypeError):
                msg.payload[0] = 0
            kept.append(bytes(msg.payload))
        bus.wait(handler, timeout=5)
        assert kept[-1] == b"abc"


def test_zero_copy_reserve_and_commit(ferryd):
    with ferry.Client() as bus:
        bus.subscribe(4)
        with bus.reserve(5, 4) as room:
            room[:] = b"place"
        got = []
        bus.wait(lambda m: got.append(bytes(m.payload)), timeout=5)
        assert got == [b"place"]
        with pytest.raises(RuntimeError):  # a failed block commits nothing
            with bus.reserve(5, 4) as room:
                room[:] = b"never"
                raise RuntimeError("changed my mind")
        bus.send(4, "after")
        got = []
        bus.wait(lambda m: got.append(bytes(m.payload)), timeout=5)
        assert got == [b"after"]


def test_send_batch_in_one_call(ferryd):
    with ferry.Client() as bus:
        bus.subscribe(6)
        bus.send_batch([(6, b"one"), (6, "two"), (6, bytearray(b"three"))])
        got = []
        while len(got) < 3:
            assert bus.wait(lambda m: got.append(bytes(m.payload)), timeout=5) > 0
        assert got == [b"one", b"two", b"three"]
        with pytest.raises(ferry.TooLarge) as e:
            bus.send_batch([(6, b"first"), (6, bytes(bus.max_payload + 1)), (6, b"third")])
        assert e.value.sent == 1
        got = []
        bus.wait(lambda m: got.append(bytes(m.payload)), timeout=5)
        assert got == [b"first"]


def test_a_handler_that_raises_loses_no_message(ferryd):
    with ferry.Client() as bus:
        bus.subscribe(5)
        for i in range(5):
            bus.send(5, str(i))
        # All five are in the ring before the first wait: the first one's handler raises.
        seen = []

        def flaky(m):
            seen.append(m.text)
            if m.text == "0":
                raise KeyError("first")

        deadline = time.monotonic() + 5
        with pytest.raises(KeyError):
            while time.monotonic() < deadline:
                bus.wait(flaky, timeout=1)
        while len(seen) < 5 and time.monotonic() < deadline:
            bus.wait(flaky, timeout=1)
        assert seen == ["0", "1", "2", "3", "4"]


def test_errors_are_python_exceptions_with_ferrys_message(session):
    # No ferryd.
    with pytest.raises(ValueError, match="wait='fast': one of 'hybrid', 'spin', 'block'"):
        ferry.Client(wait="fast")
    with pytest.raises(ferry.NotFound) as e:
        ferry.Client()
    assert e.value.code == "not_found" and isinstance(e.value, FileNotFoundError)
    assert "no ferry endpoint 'bus'" in str(e.value)

    with ferry.Server("py-errors") as server:
        server.on(1, lambda req: None)  # never answers
        server.on(2, lambda req: int("not a number"))
        thread = threading.Thread(target=server.run)
        thread.start()
        try:
            with ferry.Client("py-errors") as c:
                with pytest.raises(ferry.Timeout) as e:
                    c.request(1, b"", timeout=0.05)
                assert isinstance(e.value, TimeoutError) and e.value.code == "timed_out"

                with pytest.raises(ferry.RemoteError) as e:
                    c.request(2, b"", timeout=5)
                assert "failed: ValueError: invalid literal" in str(e.value)

                with pytest.raises(ferry.TooLarge) as e:
                    c.send(1, bytes(c.max_payload + 1))
                assert str(c.max_payload) in str(e.value)

                with pytest.raises(ferry.InvalidArgument):
                    c.send(ferry.RESERVED_TYPES, b"")
                with pytest.raises(ValueError):
                    c.request(1, b"", timeout=-1)
        finally:
            server.stop()
            thread.join()
        with pytest.raises(ferry.Exists):
            ferry.Server("py-errors")


def test_waiting_releases_the_gil(ferryd):
    with ferry.Client() as bus:
        bus.subscribe(6)
        waiter = threading.Thread(target=lambda: bus.wait(lambda m: None, timeout=2))
        waiter.start()
        # With the GIL held through the wait, this thread could not run until it ended.
        spins = 0
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            spins += 1
        assert waiter.is_alive()
        waiter.join()
        assert spins > 0


def test_the_server_stops_on_ctrl_c(session):
    code = (
        "import ferry, os, signal, threading\n"
        "s = ferry.Server('py-int')\n"
        "threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        "    s.run()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n")
    done = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "interrupted", done.stderr


def test_the_readmes_python_runs(ferryd):
    # Every ```python block of the README, as a program of its own against a real ferryd.
    readme = pathlib.Path(__file__).resolve().parents[2] / "README.md"
    found = re.findall(r"^```python\n(.*?)^```$", readme.read_text(), flags=re.M | re.S)
    assert found, "the README has no Python block"
    for code in found:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, f"{code}\n{done.stderr}"
        assert done.stdout.strip() == "7 b'hello'"


def test_a_client_in_a_selectors_loop(ferryd):
    # fileno() and prepare_wait(), as an event loop of one's own uses them: sleep in select()
    # until the C++ `ferry send` publishes, then poll.
    with ferry.Client() as bus, selectors.DefaultSelector() as sel:
        bus.subscribe(8)
        sel.register(bus.fileno(), selectors.EVENT_READ)
        sender = threading.Timer(0.2, lambda: ferry_cli("send", "--type", "8", "--data", "tick"))
        sender.start()
        got, turns = [], 0
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            if bus.prepare_wait():
                sel.select(timeout=5.0)
            bus.poll(lambda m: got.append(bytes(m.payload)))
            turns += 1
        sender.join()
        assert got == [b"tick"]
        assert turns <= 4  # it slept in select() rather than spinning
