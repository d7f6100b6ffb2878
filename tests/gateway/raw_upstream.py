#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A WebSocket service that does not speak ferry.v1, over TLS, for the gateway's raw mode:
it answers every message with the same text in upper case. Debian's python3-websockets.

  raw_upstream.py CERT KEY   listens on 127.0.0.1 (a free port), tells $NOTIFY_SOCKET
                             "READY=1\\nSTATUS=listening on 127.0.0.1:PORT", runs until killed
"""
import asyncio
import os
import socket
import ssl
import sys

import websockets


async def shout(ws):
    async for message in ws:
        text = message.decode() if isinstance(message, bytes) else message
        await ws.send(text.upper().encode())


def notify(state: str):
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(state.encode(), address)


async def main(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with websockets.serve(shout, "127.0.0.1", 0, ssl=context) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        notify(f"READY=1\nSTATUS=listening on 127.0.0.1:{port}")
        await asyncio.Future()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
