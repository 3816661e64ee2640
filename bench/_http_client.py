"""A lean HTTP/1.1 keep-alive load client: the same one for every server the bench measures.

A general client (httpx) spends tens of microseconds per request on its own
bookkeeping, which would blur the differences the gateway bench looks for.
This one writes a pre-built request and reads the response by its
``Content-Length`` on a raw asyncio protocol: no header objects, no pools
with timeouts, one request in flight per connection (no pipelining, as
browsers and SDKs do).  It understands only what the servers under test send
(a status line, headers with ``content-length``, a body), and fails loudly on
anything else, which is enough for a bench and too little for anything more.

Example::

    client = await KeepAliveClient.connect("http://127.0.0.1:8000", connections=32)
    raw = post("/work", b'{"text": "hi"}')
    body = await client.call(raw)
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Final, cast

__all__ = ["Connection", "HttpStatusError", "KeepAliveClient", "post"]

HEADERS_END: Final = b"\r\n\r\n"
CONTENT_LENGTH: Final = b"\r\ncontent-length:"
STATUS: Final = slice(9, 12)  # b"HTTP/1.1 200 OK": the three digits of the status
OK: Final = 200


class HttpStatusError(RuntimeError):
    """The server answered, but not with 200 OK."""


def post(path: str, body: bytes, host: str = "127.0.0.1") -> bytes:
    """The bytes of one ``POST`` with a JSON body, built once and sent many times."""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` is one round trip on it.

    ``exchange`` returns any status with its body (the overload bench counts
    refusals); ``request`` wants 200 and returns the body alone.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, only behave like one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        end = buffer.find(HEADERS_END)
        if end < 0:
            return
        headers = bytes(buffer[:end]).lower()
        start = headers.find(CONTENT_LENGTH)
        if start < 0:
            self._fail(HttpStatusError(f"no content-length in {headers!r}"))
            return
        start += len(CONTENT_LENGTH)
        stop = headers.find(b"\r\n", start)
        length = int(headers[start:stop if stop >= 0 else end])
        total = end + len(HEADERS_END) + length
        if len(buffer) < total:
            return
        status, body = int(buffer[STATUS]), bytes(buffer[end + len(HEADERS_END):total])
        del buffer[:total]
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(f"the server closed the connection ({exc})"))

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; its status and body."""
        assert self._transport is not None
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(raw)
        return await waiter

    async def request(self, raw: bytes) -> bytes:
        """Send one request that must succeed; its body."""
        status, body = await self.exchange(raw)
        if status != OK:
            raise HttpStatusError(f"HTTP {status}: {body[:200]!r}")
        return body

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class KeepAliveClient:
    """A fixed set of keep-alive connections to one server.

    ``call`` borrows an idle connection for one request.  Callers never
    outnumber connections in this bench, so a borrow never waits; one that
    would is a bug in the bench and raises rather than queueing and skewing
    the latencies.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[Connection] = []

    @classmethod
    async def connect(cls, url: str, connections: int) -> KeepAliveClient:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname is not None and parsed.port is not None, url
        client = cls(parsed.hostname, parsed.port)
        client._idle = [await client._open() for _ in range(connections)]
        return client

    async def _open(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(Connection, self.host, self.port)
        return connection

    async def refresh(self) -> None:
        """Replace every connection with a fresh one, before a timed run.

        uvicorn closes a connection after 5 s idle, and those of one case idle
        while the others run: reopening them all (not only the closed ones, as
        one at 4.9 s would close mid-run) keeps reconnects out of the timings.
        """
        self.close()
        self._idle = [await self._open() for _ in self._idle]

    async def call(self, raw: bytes) -> bytes:
        connection = self._idle.pop()  # IndexError: more callers than connections
        if connection.closed:  # rare once refreshed; a real client reconnects too
            connection = await self._open()
        try:
            return await connection.request(raw)
        finally:
            self._idle.append(connection)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
