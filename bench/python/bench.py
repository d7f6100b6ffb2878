# SPDX-License-Identifier: Apache-2.0
"""bench/python/bench.py: ferry from Python beside multiprocessing.Pipe, multiprocessing.Queue
and a Unix stream socket, in one run; prints a Markdown report (docs/performance.md, "From
Python"). bench/scripts/python.sh runs it with the Python of a virtual environment where the
binding (python/) is installed.

    bench.py [--seconds S] [--reps N] [--command TEXT]

Every participant is a process of its own (multiprocessing, fork), pinned to a CPU; payloads
are 1024 bytes, each carrying its sequence number in its first 8 bytes. ferry runs twice, with
its default wait (hybrid) and with wait="block"; in the stream, a third time, its producer
sending in batches (send_batch).

  round trip  a requester and an echoing responder, one request outstanding, for S seconds
              after 200 round trips of warm-up; every reply is compared with its request.
              ferry: ferry.Client.request() to a ferry.Server whose handler answers
              req.reply(req.payload). Pipe: one duplex multiprocessing.Pipe, send_bytes and
              recv_bytes. Queue: two multiprocessing.Queue. Unix socket: a socketpair,
              4-byte length-prefixed frames, one sendall() a frame, read through a buffered
              reader. Run twice: the two processes on two CPUs, then both on one.
  stream      a producer sends flat out for S seconds, then an end marker with its count; the
              consumer checks every sequence number and the count. ferry:
              ferry.Client.send() into a ferry.Server whose handler counts. ferry, send_batch:
              the same, the producer sending 64 messages a call with ferry.Client.send_batch()
              (default wait). Pipe: a one-way multiprocessing.Pipe. Queue: a
              multiprocessing.Queue of at most 1000 items. Unix socket: as above. The two
              processes on two CPUs.

Each run's CPU time is each participant's own (getrusage RUSAGE_SELF, all its threads, the
Queue's feeder thread included), from just before its loop to the end of its work. Runs are
repeated N times, the transports alternated (ferry, ferry block, ferry send_batch in the
stream, pipe, queue, uds, ferry, ...); the report gives the median of the N of each figure
and ratios of the medians. S is PYBENCH_SECONDS (1), N is PYBENCH_REPS (3). The ferry session
is private to the run: a fresh XDG_RUNTIME_DIR and FERRY_SESSION=pybench; no ferryd is needed
(a Server's endpoint is direct). Exits 1 when a run failed or a check did not hold (after
printing the report)."""
import argparse
import datetime
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import cffi

import ferry

SIZE = 1024
SEQ = struct.Struct("<Q")        # a message's sequence number, its first 8 bytes
LENGTH = struct.Struct("<I")     # the Unix socket's frame header
END = struct.Struct("<Qd")       # the stream's end marker: count sent, producer's start time
TAIL = (bytes(range(256)) * (SIZE // 256 + 1))[SEQ.size:SIZE]
WARMUP = 200                     # round trips before the measured ones
QUEUE_ITEMS = 1000               # the stream's multiprocessing.Queue maxsize
BATCH = 64                       # messages a send_batch() call, the stream's "ferry-batch"
TRANSPORTS = ("ferry", "ferry-block", "ferry-batch", "pipe", "queue", "uds")
NAMES = {"ferry": "ferry", "ferry-block": "ferry, wait block", "ferry-batch": "ferry, send_batch",
         "pipe": "multiprocessing.Pipe", "queue": "multiprocessing.Queue", "uds": "Unix socket"}
SHORT = {"ferry": "ferry", "ferry-block": "ferry block", "ferry-batch": "ferry send_batch",
         "pipe": "Pipe", "queue": "Queue", "uds": "Unix socket"}
FERRIES = ("ferry", "ferry-block", "ferry-batch")
OTHERS = ("pipe", "queue", "uds")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Usage:
    """This process's CPU time and the wall time since it was made."""

    def __init__(self):
        self.cpu, self.wall = cpu_seconds(), time.perf_counter()

    def done(self):
        return {"cpu": cpu_seconds() - self.cpu, "wall": time.perf_counter() - self.wall}


def message(i):
    return SEQ.pack(i) + TAIL


def percentile(ordered, q):
    """Nearest rank."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# ---- round trip: the requesters and the responders ----

def round_trips(exchange, seconds):
    """exchange(payload) -> reply, WARMUP times, then for `seconds`, timing each."""
    bad = 0
    for i in range(WARMUP):
        p = message(i)
        if exchange(p) != p:
            bad += 1
    clock = time.perf_counter_ns
    latencies = []
    i = WARMUP
    start = t1 = clock()
    end = start + int(seconds * 1e9)
    while t1 < end:
        p = message(i)
        t0 = clock()
        reply = exchange(p)
        t1 = clock()
        if reply != p:
            bad += 1
        latencies.append(t1 - t0)
        i += 1
    latencies.sort()
    return {"sent": i, "bad": bad, "measured": len(latencies), "seconds": (t1 - start) / 1e9,
            "p50_us": percentile(latencies, 0.50) / 1e3,
            "p99_us": percentile(latencies, 0.99) / 1e3}


def ferry_requester(report, endpoint, wait, seconds):
    with ferry.Client(endpoint, wait=wait) as client:
        request = client.request
        usage = Usage()
        out = round_trips(lambda p: request(1, p, 5.0).payload, seconds)
        request(2, b"", 5.0)  # the responder stops
        out.update(usage.done())
    report(out)


def ferry_responder(report, endpoint, wait):
    count = 0
    with ferry.Server(endpoint, wait=wait) as server:
        def echo(req):
            nonlocal count
            req.reply(req.payload)
            count += 1

        def stop(req):
            req.reply(b"")
            server.stop()

        server.on(1, echo)
        server.on(2, stop)
        report({"ready": True})
        cpu = cpu_seconds()
        server.run()
        cpu = cpu_seconds() - cpu
    report({"received": count, "cpu": cpu})


def pipe_requester(report, conn, seconds):
    send, recv = conn.send_bytes, conn.recv_bytes

    def exchange(p):
        send(p)
        return recv()

    usage = Usage()
    out = round_trips(exchange, seconds)
    send(b"")  # the responder stops
    out.update(usage.done())
    report(out)


def pipe_responder(report, conn):
    send, recv = conn.send_bytes, conn.recv_bytes
    count = 0
    report({"ready": True})
    cpu = cpu_seconds()
    while True:
        data = recv()
        if not data:
            break
        send(data)
        count += 1
    report({"received": count, "cpu": cpu_seconds() - cpu})


def queue_requester(report, requests, replies, seconds):
    put, get = requests.put, replies.get

    def exchange(p):
        put(p)
        return get()

    usage = Usage()
    out = round_trips(exchange, seconds)
    put(None)  # the responder stops
    requests.close()
    requests.join_thread()  # the feeder thread's work is ours too
    out.update(usage.done())
    report(out)


def queue_responder(report, requests, replies):
    put, get = replies.put, requests.get
    count = 0
    report({"ready": True})
    cpu = cpu_seconds()
    while True:
        data = get()
        if data is None:
            break
        put(data)
        count += 1
    replies.close()
    replies.join_thread()
    report({"received": count, "cpu": cpu_seconds() - cpu})


def read_frame(reader):
    head = reader.read(LENGTH.size)
    if len(head) < LENGTH.size:
        raise EOFError("the Unix socket closed mid-run")
    (size,) = LENGTH.unpack(head)
    data = reader.read(size)
    if len(data) < size:
        raise EOFError("the Unix socket closed mid-frame")
    return data


def uds_requester(report, sock, seconds):
    reader = sock.makefile("rb")
    sendall, pack = sock.sendall, LENGTH.pack

    def exchange(p):
        sendall(pack(len(p)) + p)
        return read_frame(reader)

    usage = Usage()
    out = round_trips(exchange, seconds)
    sendall(pack(0))  # the responder stops
    out.update(usage.done())
    report(out)


def uds_responder(report, sock):
    reader = sock.makefile("rb")
    sendall, pack = sock.sendall, LENGTH.pack
    count = 0
    report({"ready": True})
    cpu = cpu_seconds()
    while True:
        data = read_frame(reader)
        if not data:
            break
        sendall(pack(len(data)) + data)
        count += 1
    report({"received": count, "cpu": cpu_seconds() - cpu})


# ---- stream: the producers and the consumers ----

def produce(send, seconds):
    """send(payload) flat out for `seconds`; then the end marker. Returns (count, start)."""
    clock = time.perf_counter
    i = 0
    start = clock()
    end = start + seconds
    while True:
        send(message(i))
        i += 1
        if clock() >= end:
            break
    return i, start


def produce_batches(send_batch, seconds):
    """send_batch([(1, payload), ...]), BATCH messages of type 1 a call, flat out for
    `seconds`; then the end marker. Returns (count, start)."""
    clock = time.perf_counter
    i = 0
    start = clock()
    end = start + seconds
    while True:
        send_batch([(1, message(j)) for j in range(i, i + BATCH)])
        i += BATCH
        if clock() >= end:
            break
    return i, start


def consume(report, recv):
    """The consumer of Pipe and Queue: recv() each message until the end marker
    (any other length), checking every sequence number."""
    count = bad = 0
    report({"ready": True})
    cpu = cpu_seconds()
    while True:
        data = recv()
        if len(data) != SIZE:
            break
        if SEQ.unpack_from(data)[0] != count:
            bad += 1
        count += 1
    end = time.perf_counter()
    consumed(report, count, bad, data, end, cpu_seconds() - cpu)


def consumed(report, count, bad, marker, end, cpu):
    sent, start = END.unpack(marker)
    report({"received": count, "bad": bad, "marker_sent": sent, "seconds": end - start,
            "cpu": cpu})


def ferry_producer(report, endpoint, wait, seconds):
    with ferry.Client(endpoint, wait=wait) as client:
        send = client.send
        usage = Usage()
        sent, start = produce(lambda p: send(1, p), seconds)
        send(2, END.pack(sent, start))
        used = usage.done()
    report({"sent": sent, **used})


def ferry_batch_producer(report, endpoint, wait, seconds):
    with ferry.Client(endpoint, wait=wait) as client:
        send, send_batch = client.send, client.send_batch
        usage = Usage()
        sent, start = produce_batches(send_batch, seconds)
        send(2, END.pack(sent, start))
        used = usage.done()
    report({"sent": sent, **used})


def ferry_consumer(report, endpoint, wait):
    count = bad = 0
    marker, end = None, 0.0
    with ferry.Server(endpoint, wait=wait) as server:
        def take(req):
            nonlocal count, bad
            if SEQ.unpack_from(req.payload)[0] != count:
                bad += 1
            count += 1

        def finish(req):
            nonlocal marker, end
            end = time.perf_counter()
            marker = bytes(req.payload)
            server.stop()

        server.on(1, take)
        server.on(2, finish)
        report({"ready": True})
        cpu = cpu_seconds()
        server.run()
        cpu = cpu_seconds() - cpu
    consumed(report, count, bad, marker, end, cpu)


def pipe_producer(report, conn, seconds):
    send = conn.send_bytes
    usage = Usage()
    sent, start = produce(send, seconds)
    send(END.pack(sent, start))
    report({"sent": sent, **usage.done()})


def pipe_consumer(report, conn):
    consume(report, conn.recv_bytes)


def queue_producer(report, queue, seconds):
    put = queue.put
    usage = Usage()
    sent, start = produce(put, seconds)
    put(END.pack(sent, start))
    queue.close()
    queue.join_thread()
    report({"sent": sent, **usage.done()})


def queue_consumer(report, queue):
    consume(report, queue.get)


def uds_producer(report, sock, seconds):
    sendall, pack = sock.sendall, LENGTH.pack
    usage = Usage()
    sent, start = produce(lambda p: sendall(pack(len(p)) + p), seconds)
    marker = END.pack(sent, start)
    sendall(pack(len(marker)) + marker)
    report({"sent": sent, **usage.done()})


def uds_consumer(report, sock):
    # Its own loop, as consume() would add a call per message to the socket's figures.
    reader = sock.makefile("rb")
    count = bad = 0
    report({"ready": True})
    cpu = cpu_seconds()
    while True:
        data = read_frame(reader)
        if len(data) != SIZE:
            break
        if SEQ.unpack_from(data)[0] != count:
            bad += 1
        count += 1
    end = time.perf_counter()
    consumed(report, count, bad, data, end, cpu_seconds() - cpu)


# ---- running one measurement ----

class RunFailed(Exception):
    pass


def child(target, out, cpu, args):
    try:
        os.sched_setaffinity(0, {cpu})
        target(out.send, *args)
    except BaseException:  # noqa: B902: reported to the parent, which fails the run
        out.send({"error": traceback.format_exc().strip().splitlines()[-1]})
    finally:
        out.close()


class Run:
    """The two processes of one measurement; stop() ends whatever is left of them."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.processes = {}  # result pipe -> process
        self.pending = {}    # result pipe -> what it said and was not asked for yet
        self.open = []       # result pipes not at their end yet

    def start(self, target, cpu, *args):
        results, out = self.ctx.Pipe(duplex=False)
        p = self.ctx.Process(target=child, args=(target, out, cpu, args), daemon=True,
                             name=target.__name__)
        p.start()
        out.close()
        self.processes[results], self.pending[results] = p, []
        self.open.append(results)
        return results

    def receive(self, results, timeout):
        """The next thing `results` says; fails as soon as any of the run's processes
        reports an error."""
        deadline = time.monotonic() + timeout
        while not self.pending[results]:
            p = self.processes[results]
            if results not in self.open:
                p.join(5)
                raise RunFailed(f"{p.name} ended (exit code {p.exitcode}) without a result")
            left = deadline - time.monotonic()
            ready = multiprocessing.connection.wait(self.open, max(left, 0))
            if not ready:
                raise RunFailed(f"{p.name}: no answer within {timeout:.0f} s")
            for r in ready:
                try:
                    got = r.recv()
                except EOFError:
                    self.open.remove(r)
                    continue
                if "error" in got:
                    raise RunFailed(f"{self.processes[r].name}: {got['error']}")
                self.pending[r].append(got)
        return self.pending[results].pop(0)

    def stop(self, failed):
        for p in self.processes.values():
            p.join(1 if failed else 10)
            if p.is_alive():
                p.kill()  # this run's own child, by its pid
                p.join()
        for r in self.processes:
            r.close()


def transport_objects(ctx, workload, transport, number):
    """The arguments of the first (responder, consumer) and second (requester, producer)
    process, and what the parent closes once both have started."""
    if transport.startswith("ferry"):
        endpoint = f"pybench-{number}"
        wait = "block" if transport == "ferry-block" else "hybrid"  # ferry-batch: hybrid
        return (endpoint, wait), (endpoint, wait), []
    if transport == "pipe":
        if workload == "round trip":
            a, b = ctx.Pipe(duplex=True)
            return (a,), (b,), [a, b]
        receiving, sending = ctx.Pipe(duplex=False)
        return (receiving,), (sending,), [receiving, sending]
    if transport == "queue":
        if workload == "round trip":
            requests, replies = ctx.Queue(), ctx.Queue()
            return (requests, replies), (requests, replies), []
        queue = ctx.Queue(QUEUE_ITEMS)
        return (queue,), (queue,), []
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return (a,), (b,), [a, b]


ROLES = {
    ("round trip", "ferry"): (ferry_responder, ferry_requester),
    ("round trip", "ferry-block"): (ferry_responder, ferry_requester),
    ("round trip", "pipe"): (pipe_responder, pipe_requester),
    ("round trip", "queue"): (queue_responder, queue_requester),
    ("round trip", "uds"): (uds_responder, uds_requester),
    ("stream", "ferry"): (ferry_consumer, ferry_producer),
    ("stream", "ferry-block"): (ferry_consumer, ferry_producer),
    ("stream", "ferry-batch"): (ferry_consumer, ferry_batch_producer),
    ("stream", "pipe"): (pipe_consumer, pipe_producer),
    ("stream", "queue"): (queue_consumer, queue_producer),
    ("stream", "uds"): (uds_consumer, uds_producer),
}


def transports(workload):
    """The transports `workload` runs (those with roles in it), in the order of TRANSPORTS,
    which is also the order they alternate in."""
    return tuple(t for t in TRANSPORTS if (workload, t) in ROLES)


def measure(ctx, workload, transport, number, seconds, cpus):
    """One run, the first process on CPU cpus[0], the second on cpus[1]: a dict of its
    figures, with "error" when it failed or a check did not hold."""
    first, second = ROLES[(workload, transport)]
    first_args, second_args, close = transport_objects(ctx, workload, transport, number)
    run = Run(ctx)
    failed = True
    try:
        a = run.start(first, cpus[0], *first_args)
        run.receive(a, 30)  # ready: for ferry, the Server's endpoint exists
        b = run.start(second, cpus[1], *second_args, seconds)
        for c in close:
            c.close()
        close = []
        driver = run.receive(b, seconds * 3 + 60)
        other = run.receive(a, 30)
        failed = False
    except RunFailed as e:
        return {"error": str(e)}
    finally:
        for c in close:
            c.close()
        run.stop(failed)
    if workload == "round trip":
        r = driver
        r["received"] = other["received"]
        r["cpu_us"] = 1e6 * (driver["cpu"] + other["cpu"]) / r["sent"]
        r["busy"] = (driver["cpu"] + other["cpu"]) / driver["wall"]
        r["rate"] = r["measured"] / r["seconds"]
        if r["received"] != r["sent"] or r["bad"]:
            r["error"] = (f"{r['received']} requests answered of {r['sent']} sent, "
                          f"{r['bad']} replies unlike their request")
        return r
    r = other
    r["sent"] = driver["sent"]
    r["cpu_us"] = 1e6 * (driver["cpu"] + other["cpu"]) / max(r["received"], 1)
    r["busy"] = (driver["cpu"] + other["cpu"]) / driver["wall"]
    r["rate"] = r["received"] / r["seconds"]
    if r["received"] != r["sent"] or r["marker_sent"] != r["sent"] or r["bad"]:
        r["error"] = (f"{r['received']} received of {r['sent']} sent (the end marker said "
                      f"{r['marker_sent']}), {r['bad']} out of sequence")
    return r


def groups():
    """(title, workload, CPUs of the two processes): each a table of the report."""
    cpus = sorted(os.sched_getaffinity(0))
    apart = (cpus[0], cpus[1 % len(cpus)])
    together = (cpus[0], cpus[0])
    where_apart = (f"each process on a CPU of its own (CPUs {apart[0]} and {apart[1]})"
                   if apart[0] != apart[1] else f"on CPU {apart[0]}, the only one")
    return [
        (f"Round trip, {where_apart}", "round trip", apart),
        (f"Round trip, both processes on one CPU (CPU {together[0]})", "round trip", together),
        (f"Stream, {where_apart}", "stream", apart),
    ]


# ---- the report ----

def fmt_rate(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


def fmt_num(v):
    """Three significant digits, no exponent."""
    if v is None:
        return "—"
    if v < 10:
        return f"{v:.2f}"
    if v < 100:
        return f"{v:.1f}"
    return f"{v:.0f}"


def fmt_ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}×"


def median(runs, key):
    values = [r[key] for r in runs if "error" not in r]
    return statistics.median(values) if values else None


def busy(runs):
    """CPUs the two processes kept busy on average: their CPU time ÷ the requester's or the
    producer's wall time over the same span."""
    return median(runs, "busy")


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{len(os.sched_getaffinity(0))} CPUs (nproc), {model}"


def system():
    try:
        name = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    except OSError:
        name = "Linux"
    return f"{name}, kernel {platform.release()}"


def commit():
    try:
        out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def loadavg():
    with open("/proc/loadavg", encoding="utf-8") as f:
        return " ".join(f.read().split()[:3])


def checked(runs, workload):
    ok = [r for r in runs if "error" not in r]
    sent = sum(r["sent"] for r in ok)
    received = sum(r["received"] for r in ok)
    if workload == "round trip":
        text = f"{received:,} of {sent:,} answered, each reply equal to its request"
    else:
        text = f"{received:,} of {sent:,} received, in order"
    if len(ok) < len(runs):
        text += f"; **{len(runs) - len(ok)} run(s) failed**"
    return text


def each_run(runs):
    return " / ".join("failed" if "error" in r else fmt_rate(r["rate"]) for r in runs)


def ferries(per):
    """The ferry variants among the transports of `per`."""
    return [f for f in FERRIES if f in per]


def ratios(per, key):
    """'ferry / Pipe 4.41×, ...' over the medians of `key`, for each ferry variant."""
    return "; ".join(
        ", ".join(f"{SHORT[f]} / {SHORT[t]} {fmt_ratio(median(per[f], key), median(per[t], key))}"
                  for t in OTHERS) for f in ferries(per))


def table(per, workload):
    """One row a transport: its figures, the ratios to each ferry variant's, the check."""
    if workload == "round trip":
        head = ("| transport | RTT p50 µs | RTT p99 µs | round trips/s | of each run "
                "| CPU µs per round trip ")
    else:
        head = "| transport | msgs/s | MB/s | of each run | CPU µs per message "
    head += "| CPUs busy | " + "".join(f"{SHORT[f]} ÷ this | " for f in ferries(per))
    head += "checked |"
    out = [head, "|---" * (head.count("|") - 1) + "|"]
    for t in per:
        runs = per[t]
        rate = median(runs, "rate")
        if workload == "round trip":
            cells = [fmt_num(median(runs, "p50_us")), fmt_num(median(runs, "p99_us")),
                     fmt_rate(rate)]
        else:
            cells = [fmt_rate(rate), fmt_num(None if rate is None else rate * SIZE / 1e6)]
        cells += [each_run(runs), fmt_num(median(runs, "cpu_us")), fmt_num(busy(runs))]
        cells += ["" if t == f else fmt_ratio(median(per[f], "rate"), rate)
                  for f in ferries(per)]
        cells.append(checked(runs, workload))
        out.append(f"| {NAMES[t]} | " + " | ".join(cells) + " |")
    return out


def observations(per, workload):
    """What one table shows, in sentences made from its medians."""
    unit = "round trip" if workload == "round trip" else "message"
    rate = {t: median(per[t], "rate") for t in per}
    cpu = {t: median(per[t], "cpu_us") for t in per}
    out = [f"{'round trips/s' if workload == 'round trip' else 'msgs/s'}, "
           f"{ratios(per, 'rate')}."]
    if workload == "round trip":
        out.append("RTT p50: " + ", ".join(f"{SHORT[t]} {fmt_num(median(per[t], 'p50_us'))}"
                                           for t in per) + " µs.")
    out.append(f"CPU per {unit}: " + ", ".join(f"{SHORT[t]} {fmt_num(cpu[t])}"
                                              for t in per) + " µs.")
    if None in rate.values() or None in cpu.values():
        return out
    least = min(OTHERS, key=lambda t: cpu[t])
    if busy(per["ferry"]) > busy(per[least]) + 0.5:
        out.append(f"ferry's default wait keeps {fmt_num(busy(per['ferry']))} CPUs busy "
                   f"({SHORT[least]}, the thriftiest of the others, "
                   f"{fmt_num(busy(per[least]))}) and spends "
                   f"{fmt_ratio(cpu['ferry'], cpu[least])} its CPU per {unit}.")
    if workload == "round trip" and rate["ferry"] < 0.9 * rate["ferry-block"]:
        out.append("Here ferry's default wait does "
                   f"{fmt_ratio(rate['ferry'], rate['ferry-block'])} of its block wait's round "
                   "trips: a hybrid wait spins while the process it waits for needs that "
                   "same CPU.")
    if workload == "stream" and 0.9 < rate["ferry"] / rate["ferry-block"] < 1.1:
        out.append("ferry's two waits give the same stream: a wait mode changes only how a "
                   f"process waits, and here the two keep {fmt_num(busy(per['ferry']))} CPUs "
                   "busy with their Python work on each message.")
    if workload == "stream":
        out.append(f"ferry with send_batch ({BATCH} messages a call) carries "
                   f"{fmt_ratio(rate['ferry-batch'], rate['ferry'])} the messages of ferry with "
                   f"one send() a message, at {fmt_num(cpu['ferry-batch'])} µs of CPU a "
                   f"message against {fmt_num(cpu['ferry'])}.")
    return out


def report(results, args, started, finished, load_before, load_after):
    lines = []
    put = lines.append
    put("# ferry from Python beside multiprocessing and a Unix socket")
    put("")
    put("Generated by `bench/scripts/python.sh build/bin` (the end of `make bench`; "
        "`bench/python/bench.py`); do not edit by hand.")
    put("")
    put("| | |")
    put("|---|---|")
    when = datetime.datetime.fromtimestamp(started, datetime.timezone.utc)
    put(f"| date | {when:%Y-%m-%d %H:%M} UTC |")
    put(f"| commit | {commit()} |")
    put(f"| machine | {machine()} |")
    put(f"| system | {system()} |")
    put(f"| Python | {platform.python_version()} ({os.path.realpath(sys.executable)}), "
        f"cffi {cffi.__version__}, libferry-c {ferry.version()} |")
    put(f"| load average (1/5/15 min) | before {load_before}, after {load_after} |")
    runs = sum(len(v) for per in results.values() for v in per.values())
    put(f"| runs | {runs} runs of {args.seconds:g} s in {finished - started:.0f} s, "
        f"{args.reps} repetitions per row, transports alternated |")
    put(f"| command | `{args.command}` |")
    put("")
    put("Every participant is a process of its own (multiprocessing, fork), pinned to a CPU; "
        "1024-byte payloads, each carrying its sequence number. Every figure is the median "
        "of the repetitions; a ratio is the ratio of the medians (ferry ÷ the other, round "
        "trips or messages a second: above 1, ferry carries more). CPU: the two processes' "
        "own CPU time (user + system, all their threads) summed, per round trip or message; "
        "CPUs busy: that CPU time ÷ the wall time. \"ferry\" waits as it does by default "
        "(hybrid: a wait spins up to 50 µs before it sleeps); \"ferry, wait block\" sleeps "
        "at once (`wait=\"block\"` on the Server and the Client), as Pipe, Queue and the "
        "socket do in the kernel; \"ferry, send_batch\" (the stream only) waits by default "
        "and sends in batches. The round trip runs twice: the two processes on two CPUs, and "
        "on one, as when other work keeps the other CPUs busy; the transports rank "
        "differently in the two.")
    put("")
    put("Round trip: one requester, one echoing responder, one request outstanding; "
        f"{WARMUP} round trips of warm-up, then {args.seconds:g} s timed one by one. "
        "ferry: `Client.request()` to a `ferry.Server` answering `req.reply(req.payload)`; "
        "Pipe: a duplex `multiprocessing.Pipe`, `send_bytes`/`recv_bytes`; Queue: two "
        "`multiprocessing.Queue`; Unix socket: a `socketpair`, 4-byte length-prefixed "
        "frames, one `sendall` each, read through a buffered reader.")
    put("")
    put(f"Stream: one producer sends flat out for {args.seconds:g} s, then an end marker with "
        "its count; one consumer checks each sequence number and the count. msgs/s: "
        "messages received ÷ the time from the producer's first send to the end marker's "
        "arrival. ferry: `Client.send()` into a `ferry.Server` whose handler counts; ferry, "
        f"send_batch: the same with the default wait, the producer sending {BATCH} messages a "
        "call with `Client.send_batch()` (published at once, at most one wake-up of the "
        "server a call); Pipe: a one-way `multiprocessing.Pipe`; Queue: a "
        f"`multiprocessing.Queue` of at most {QUEUE_ITEMS} items; Unix socket: as above. "
        "MB = 10^6 bytes of payload.")
    for title, workload, _ in groups():
        put("")
        put(f"## {title}")
        put("")
        lines.extend(table(results[title], workload))
    put("")
    put("## What it shows")
    put("")
    for title, workload, _ in groups():
        put(f"- {title}: " + " ".join(observations(results[title], workload)))
    put("- Python's own work a message (building the payload, the calls, the handler's objects "
        "in ferry, pickling in Queue) is inside every figure here, as it is in any Python "
        "program; `bench/results/latest.md` has ferry without it (C++). The machine is "
        "shared and noisy: compare the ratios within this report, not absolute figures "
        "across reports.")
    failures = [(title, t, i + 1, r["error"]) for title, per in results.items()
                for t, runs in per.items() for i, r in enumerate(runs) if "error" in r]
    if failures:
        put("")
        put("## Failed runs")
        put("")
        for title, t, i, why in failures:
            put(f"- {title}, {NAMES[t]}, repetition {i}: {why}")
    return "\n".join(lines) + "\n", bool(failures)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("PYBENCH_SECONDS", "1")),
                        help="timed seconds of each run (PYBENCH_SECONDS, 1)")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("PYBENCH_REPS", "3")),
                        help="repetitions of each row (PYBENCH_REPS, 3)")
    parser.add_argument("--command", default="python bench/python/bench.py",
                        help="the command named in the report as the one that produced it")
    args = parser.parse_args()
    if args.seconds <= 0 or args.reps < 1:
        parser.error("--seconds must be above 0 and --reps at least 1")

    runtime = tempfile.mkdtemp(prefix="ferry-pybench-")
    os.chmod(runtime, 0o700)
    os.environ["XDG_RUNTIME_DIR"] = runtime
    os.environ["FERRY_SESSION"] = "pybench"
    ctx = multiprocessing.get_context("fork")
    results = {title: {t: [] for t in transports(workload)}
               for title, workload, _ in groups()}
    load_before, started = loadavg(), time.time()
    number = 0
    try:
        for title, workload, cpus in groups():
            for _ in range(args.reps):
                for t in transports(workload):
                    number += 1
                    results[title][t].append(measure(ctx, workload, t, number, args.seconds, cpus))
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
    text, failed = report(results, args, started, time.time(), load_before, loadavg())
    sys.stdout.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
