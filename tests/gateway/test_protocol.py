"""The server's own limits, over loopback with raw sockets: request headers on time and
within their size, idle connections closed, a client that stops reading dropped and its
stream cancelled, and the connection counts each request carries."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import eventually
from genweave.gateway.api import Api, ApiCall, sse
from genweave.gateway.auth import KeyRing
from genweave.gateway.body import ARRIVAL
from genweave.gateway.connections import EXTENSION
from genweave.gateway.limits import HttpLimits
from genweave.gateway.server import HttpServer

LIMITS = HttpLimits(header_timeout=0.5, keep_alive_timeout=1, write_timeout=0.5,
                    max_header_bytes=4096)
MARGIN = 1.5
"""Seconds a limit may be late by on this small, shared machine."""
EVENT_BYTES = 16 * 1024
SMALL_RCVBUF = 4096
TCP_ESTABLISHED = 1


class StreamRequest(msgspec.Struct):
    events: int = 1_000_000


@dataclass
class Streams:
    """What the stream route produced, and how many of its streams were closed."""

    produced: int = 0
    closed: int = 0


@pytest.fixture
async def served() -> AsyncIterator[tuple[HttpServer, Streams]]:
    api = Api("protocol test", keys=KeyRing([]), limits=LIMITS)
    streams = Streams()

    @api.post("/stream", body=StreamRequest, stream=StreamRequest)
    async def stream(call: ApiCall, body: StreamRequest) -> object:
        async def events() -> AsyncIterator[bytes]:
            try:
                for _ in range(body.events):  # never waits: as fast as the client takes them
                    streams.produced += 1
                    yield b'"' + b"x" * EVENT_BYTES + b'"'
            finally:
                streams.closed += 1

        return await sse(events(), 60.0)

    @api.get("/connections", auth=False)
    async def connections(call: ApiCall, body: None) -> dict[str, int]:
        count = call.request.scope["extensions"][EXTENSION]
        return {"open": count.open, "from_peer": count.from_peer}

    @api.post("/arrived", body=StreamRequest)
    async def arrived(call: ApiCall, body: StreamRequest) -> dict[str, object]:
        return {"whole": call.request.scope["extensions"][ARRIVAL].complete,
                "events": body.events}

    server = HttpServer(api.asgi(), "127.0.0.1", 0, limits=LIMITS)
    await server.start()
    try:
        yield server, streams
    finally:
        await server.stop()


async def connect(server: HttpServer, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    return sock


async def send(sock: socket.socket, data: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def until_closed(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    loop, received = asyncio.get_running_loop(), b""
    async with asyncio.timeout(timeout):
        while chunk := await loop.sock_recv(sock, 65536):
            received += chunk
    return received


async def response(sock: socket.socket) -> tuple[int, bytes]:
    """One response with a Content-Length, read from a kept-alive connection."""
    loop, received = asyncio.get_running_loop(), b""
    while b"\r\n\r\n" not in received:
        received += await loop.sock_recv(sock, 65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += await loop.sock_recv(sock, 65536)
    return int(head.split()[1]), body


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def error_of(raw: bytes) -> dict[str, Any]:
    return json.loads(raw.partition(b"\r\n\r\n")[2])["error"]  # type: ignore[no-any-return]


def tcp_state(sock: socket.socket) -> int:
    """The kernel's state of this end of the connection (``tcpi_state``): 1 while established."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, struct.calcsize("B"))
    return int(info[0])


async def test_a_connection_that_never_speaks_gets_408_at_the_header_timeout(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    with await connect(server) as sock:
        began = time.monotonic()
        answer = await until_closed(sock)
    assert LIMITS.header_timeout <= time.monotonic() - began < LIMITS.header_timeout + MARGIN
    assert status_of(answer) == 408 and b"connection: close" in answer
    assert error_of(answer) == {
        "message": "The request headers did not arrive within 0.5s.", "type": "timeout_error",
        "param": None, "code": "request_timeout"}


async def test_headers_trickled_a_byte_at_a_time_are_cut_at_the_header_timeout(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    with await connect(server) as sock:
        began = time.monotonic()

        async def trickle() -> None:
            for byte in b"POST /stream HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 200:
                await send(sock, bytes([byte]))
                await asyncio.sleep(0.05)  # the attacker's pace: every byte before a timeout

        trickling = asyncio.create_task(trickle())
        answer = await until_closed(sock)
        trickling.cancel()
    assert LIMITS.header_timeout <= time.monotonic() - began < LIMITS.header_timeout + MARGIN
    assert status_of(answer) == 408


async def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    with await connect(server) as sock:
        await send(sock, b"GET /connections HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await response(sock))[0] == 200
        answered = time.monotonic()
        rest = await until_closed(sock)
    idle = time.monotonic() - answered
    assert LIMITS.keep_alive_timeout <= idle + 0.05 < LIMITS.keep_alive_timeout + MARGIN
    assert rest == b""  # closed quietly: there was no request to answer


async def test_the_next_request_on_a_kept_alive_connection_has_its_own_header_deadline(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    with await connect(server) as sock:
        for _ in range(2):  # each within the header timeout, and together past it
            await send(sock, b"GET /connections HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await response(sock))[0] == 200
            await asyncio.sleep(LIMITS.header_timeout * 0.6)  # idle, under keep-alive
        await send(sock, b"GET /connections HTTP/1.1\r\n")  # then stalls mid-headers
        began = time.monotonic()
        answer = await until_closed(sock)
    assert time.monotonic() - began < LIMITS.header_timeout + MARGIN
    assert status_of(answer) == 408


async def test_headers_past_their_size_limit_get_431(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    with await connect(server) as sock:
        await send(sock, b"GET /connections HTTP/1.1\r\nX-Big: " + b"b" * LIMITS.max_header_bytes)
        answer = await until_closed(sock)
    assert status_of(answer) == 431 and error_of(answer)["code"] == "headers_too_large"


async def test_headers_with_a_large_body_in_the_same_bytes_are_not_too_large(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    body = b'{"events": 1}' + b" " * (LIMITS.max_header_bytes * 4)
    with await connect(server) as sock:
        await send(sock, b"POST /stream HTTP/1.1\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = await until_closed(sock)
    assert status_of(answer) == 200 and b"data: [DONE]" in answer


async def test_each_request_carries_the_connections_open_when_it_came(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    socks = [await connect(server) for _ in range(3)]
    try:
        await send(socks[-1], b"GET /connections HTTP/1.1\r\nHost: x\r\n\r\n")
        status, body = await response(socks[-1])
    finally:
        for sock in socks:
            sock.close()
    assert status == 200 and json.loads(body) == {"open": 3, "from_peer": 3}
    await eventually(lambda: server.connections.total == 0, what="every connection forgotten")


async def test_each_request_says_whether_its_body_came_whole_with_its_headers(
    served: tuple[HttpServer, Streams],
) -> None:
    server, _ = served
    body = b'{"events": 1}'
    with await connect(server) as sock:
        await send(sock, b"POST /arrived HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
                   + body)
        together = await response(sock)
        await send(sock, b"POST /arrived HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body))
        await asyncio.sleep(0.1)  # the client's pause between headers and body
        await send(sock, body)
        apart = await response(sock)
    assert together == (200, b'{"whole":true,"events":1}')  # so it skipped ReadBody's timer
    assert apart[0] == 200 and json.loads(apart[1])["events"] == 1  # read by ReadBody


def most_buffered() -> int:
    """Bytes the kernel may hold for one connection on this machine (its send buffer at
    most), plus the client's receive buffer: what may leave the process unread."""
    wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return wmem_max + 4 * SMALL_RCVBUF


async def test_a_client_that_stops_reading_is_dropped_and_its_stream_cancelled(
    served: tuple[HttpServer, Streams],
) -> None:
    server, streams = served
    with await connect(server, rcvbuf=SMALL_RCVBUF) as sock:
        body = b'{"events": 1000000}'
        await send(sock, b"POST /stream HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        began = time.monotonic()
        # Never reading: the server stops producing once its buffers are full ...
        await eventually(lambda: tcp_state(sock) != TCP_ESTABLISHED, timeout=10.0,
                         what="the server dropping the connection")
        dropped = time.monotonic() - began
    assert dropped < LIMITS.write_timeout + MARGIN
    await eventually(lambda: streams.closed == 1, what="the stream closed")
    # ... having produced no more than the kernel's buffers and the write buffer hold.
    produced = streams.produced * EVENT_BYTES
    assert produced <= most_buffered() + LIMITS.write_buffer_bytes + 2 * EVENT_BYTES


async def test_a_client_that_pauses_shorter_than_the_write_timeout_gets_everything(
    served: tuple[HttpServer, Streams],
) -> None:
    server, streams = served
    events = 400  # 6.4 MiB: past the buffers, so the pause stalls the server
    with await connect(server, rcvbuf=SMALL_RCVBUF) as sock:
        body = b'{"events": %d}' % events
        await send(sock, b"POST /stream HTTP/1.1\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await eventually(lambda: 0 < streams.produced < events, what="the stream started")
        await asyncio.sleep(LIMITS.write_timeout / 2)  # the client's pause, then it reads on
        answer = await until_closed(sock)
    assert answer.count(b"data: ") == events + 1 and b"data: [DONE]" in answer
    assert streams.closed == 1
