#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A ferry.v1 client written from docs/gateway_protocol.md alone (no ferry code), with
Debian's python3-websockets: proof that the document is enough to talk to a gateway.

  ferry_v1_client.py URL TYPE TEXT            a request; prints the reply's payload
  ferry_v1_client.py URL TYPE TEXT --publish  a publication (then a hello round trip)
  ferry_v1_client.py URL TYPE TEXT --bad-crc  a request with a wrong CRC; prints the close
                                              code and reason the gateway answers with
  ferry_v1_client.py URL TYPE TEXT --flood METRICS
                                              requests of 1 KiB without reading a reply
                                              until the gateway's metrics at the URL
                                              METRICS count a peer cut off; then reads,
                                              and prints the close code and reason

Exit status: 0 done, 1 an error reply or an unexpected answer (said on stderr).
"""
import asyncio
import json
import re
import ssl
import struct
import sys
import time
import urllib.request

import websockets

HEADER = struct.Struct("<IHBBQI")  # length, type, version, flags, sequence, correlation
HELLO, REPLY, ERROR = 0xFF80, 0x04, 0x08


def _table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


class Link:
    def __init__(self, ws):
        self.ws = ws
        self.sent = 0  # our next sequence number
        self.seen = 0  # the peer's next sequence number

    def frame(self, type_, flags, correlation, payload: bytes, bad_crc=False) -> bytes:
        head = HEADER.pack(len(payload), type_, 1, flags, self.sent, correlation)
        self.sent += 1
        crc = crc32c(head + payload) ^ (1 if bad_crc else 0)
        return head + struct.pack("<I", crc) + payload

    async def frames(self):
        """Every frame of the next binary message, each checked as the document says."""
        message = await self.ws.recv()
        if not isinstance(message, bytes):
            raise SystemExit("a text message from the gateway")
        at = 0
        while at < len(message):
            length, type_, version, flags, seq, corr = HEADER.unpack_from(message, at)
            (crc,) = struct.unpack_from("<I", message, at + 20)
            payload = message[at + 24 : at + 24 + length]
            if version != 1 or len(payload) != length:
                raise SystemExit(f"a bad frame: version {version}, length {length}")
            if crc32c(message[at : at + 20] + payload) != crc:
                raise SystemExit("a frame with a wrong CRC32C")
            if seq != self.seen:
                raise SystemExit(f"sequence {seq}, expected {self.seen}")
            self.seen += 1
            at += 24 + length
            yield type_, flags, corr, payload


def peers_cut_off(metrics_url) -> int:
    """ferry_gateway_cut_off_total on the gateway's metrics page."""
    with urllib.request.urlopen(metrics_url, timeout=5) as page:
        text = page.read().decode()
    found = re.search(r"^ferry_gateway_cut_off_total(?:\{[^}]*\})? (\S+)$", text, re.M)
    return int(float(found.group(1))) if found else 0


async def main(url, type_, text, mode="", metrics_url=""):
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context()
    async with websockets.connect(url, subprotocols=["ferry.v1"], ssl=context) as ws:
        if ws.subprotocol != "ferry.v1":
            raise SystemExit("the gateway did not accept ferry.v1")
        link = Link(ws)
        hello = json.dumps({"node": "python", "max_payload": 1 << 20}).encode()
        await ws.send(link.frame(HELLO, 0, 0, hello))
        async for t, _, _, payload in link.frames():  # its hello comes first
            if t != HELLO or "node" not in json.loads(payload):
                raise SystemExit("the first frame was not a hello")
        if mode == "--bad-crc":
            await ws.send(link.frame(type_, 0, 1, text.encode(), bad_crc=True))
            try:
                await ws.recv()
            except websockets.ConnectionClosed as closed:
                print(closed.code, closed.reason)
                return 0
            raise SystemExit("the gateway took a frame with a wrong CRC")
        if mode == "--flood":
            # Requests, replies unread, until the gateway says it cut us off: from then on
            # it waits a while (its connect timeout) for us to read its close, so we do.
            payload = (text * 1024)[:1024].encode()
            give_up = time.monotonic() + 120
            look_at = 0.0
            while True:
                await ws.send(b"".join(link.frame(type_, 0, 1 + (link.sent % 1000000), payload)
                                       for _ in range(100)))
                now = time.monotonic()
                if now >= look_at:  # every 50 ms
                    if peers_cut_off(metrics_url) > 0:
                        break
                    if now > give_up:
                        raise SystemExit("not cut off after 120 s of requests without reading")
                    look_at = now + 0.05
            try:
                while True:
                    await ws.recv()
            except websockets.ConnectionClosed as closed:
                print(closed.code, closed.reason)
                return 0
        if mode == "--publish":
            await ws.send(link.frame(type_, 0, 0, text.encode()))
            return 0
        await ws.send(link.frame(type_, 0, 1, text.encode()))
        while True:
            async for t, flags, corr, payload in link.frames():
                if t == type_ and corr == 1 and flags & REPLY:
                    if flags & ERROR:
                        print(payload.decode(), file=sys.stderr)
                        return 1
                    print(payload.decode())
                    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (3, 4, 5) or (len(args) == 5) != (args[3:4] == ["--flood"]):
        raise SystemExit(__doc__)
    sys.exit(asyncio.run(main(args[0], int(args[1]), *args[2:])))
