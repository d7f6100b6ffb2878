# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the binding's tests: a private session per test (its own XDG_RUNTIME_DIR),
ferryd and ferry's C++ programs from FERRY_BIN (the build's bin directory)."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import ferry

BIN = os.environ.get("FERRY_BIN", "")


def program(name):
    path = os.path.join(BIN, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not there: set FERRY_BIN to the build's bin directory "
                           "(tests/python/run.sh does)")
    return path


@pytest.fixture
def session(monkeypatch):
    """A private session: its own runtime directory, removed afterwards."""
    runtime = tempfile.mkdtemp(prefix="ferry-py-")
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    monkeypatch.setenv("FERRY_SESSION", "py")
    yield runtime
    shutil.rmtree(runtime, ignore_errors=True)


def wait_until_answers(endpoint, process, seconds=10.0):
    """Until a client can connect to `endpoint` (readiness, not a file): the process must
    stay alive meanwhile."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            ferry.Client(endpoint, reconnect=False).close()
            return
        except ferry.NotFound:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Processes:
    """C++ programs a test starts, stopped (SIGTERM, then SIGKILL) when it ends."""

    def __init__(self):
        self.started = []

    def start(self, *args, **kwargs):
        p = subprocess.Popen([program(args[0]), *args[1:]], **kwargs)
        self.started.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.started):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes(session):
    ps = Processes()
    yield ps
    ps.stop_all()


@pytest.fixture
def ferryd(processes):
    """A real ferryd in the test's session, ready."""
    p = processes.start("ferryd", env={**os.environ, "FERRY_CONFIG": "/dev/null"},
                        stderr=subprocess.DEVNULL)
    wait_until_answers("bus", p)
    return p


def ferry_cli(*args, **kwargs):
    """Runs the C++ `ferry` command; returns the CompletedProcess."""
    return subprocess.run([program("ferry"), *args], capture_output=True, timeout=30, **kwargs)
