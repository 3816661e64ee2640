"""An ASGI layer that reads a request's whole body before the app below it runs.

So nothing below, the admission to ``max_concurrent`` slots included, ever
waits on a client: a request reaches the app only once it is ready to run, as
behind a proxy that buffers requests (nginx's ``proxy_request_buffering``).
While it is read, a body must keep the pace of
:class:`~genweave.gateway.pacing.BodyPace` and stay under ``max_body_bytes``,
and at most ``max_reading`` bodies are read at once, the one reading longest
giving way to a newcomer (:class:`~genweave.gateway.pacing.OldestFirst`).
A body too slow, too large or displaced is answered (408, 413) and its
connection closed.

Most bodies arrive with their headers, and the server has parsed them whole
before the app runs: the server says so in the request's scope
(:class:`BodyArrival`), and such a request goes straight through, without a
timer (one per request would cost more than every other layer together).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from genweave.gateway.errors import APIError, closing_error, error_response
from genweave.gateway.pacing import BodyPace, OldestFirst

__all__ = ["ARRIVAL", "BodyArrival", "ReadBody"]

ARRIVAL: Final = "genweave.body"
"""The key of :class:`BodyArrival` in a request scope's ``extensions``."""


@dataclass(slots=True)
class BodyArrival:
    """Set by the server (:mod:`genweave.gateway.protocol`) once a request's whole body has
    arrived and waits in its buffer."""

    complete: bool = False


@dataclass(eq=False, slots=True)
class _Reading:
    """One body being read; displacing it ends its read at once."""

    timer: asyncio.Timeout | None = None
    displaced: bool = False

    def displace(self) -> None:
        self.displaced = True
        if self.timer is not None and not self.timer.expired():
            self.timer.reschedule(asyncio.get_running_loop().time())


class _ClientLeft(Exception):
    """The client closed its connection before its body was read: no one to answer."""


class ReadBody:
    """Hand the app below a request whose body has been read in full, or answer the client.

    Example::

        app = ReadBody(app, max_body_bytes=4 << 20, pace=BodyPace(10.0, 1024), max_reading=256)
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, pace: BodyPace,
                 max_reading: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.pace = pace
        self.reading = OldestFirst[_Reading](max_reading)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared == 0 or (declared is None and not chunked):  # no body: nothing to wait for
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_body_bytes:
            await error_response(self._too_large())(scope, receive, send)
            return
        if declared is not None and _arrived(scope):  # whole, and its size checked
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except APIError as error:
            await error_response(error)(scope, receive, send)
            return
        except _ClientLeft:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        reading = _Reading()
        displaced = self.reading.take(reading)
        if displaced is not None:
            displaced.displace()
        started = asyncio.get_running_loop().time()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout_at(self.pace.deadline(started, 0)) as timer:
                reading.timer = timer
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _ClientLeft
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise self._too_large()
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
                    timer.reschedule(self.pace.deadline(started, size))
        except TimeoutError:
            raise (self._displaced() if reading.displaced else self._too_slow(size)) from None
        finally:
            self.reading.release(reading)

    def _too_large(self) -> APIError:
        return closing_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The request body is larger "
                             f"than the {self.max_body_bytes}-byte limit.",
                             code="request_too_large")

    def _too_slow(self, size: int) -> APIError:
        return closing_error(HTTPStatus.REQUEST_TIMEOUT, f"The request body arrived too slowly "
                             f"({size} bytes so far): it may take {self.pace.timeout:g}s plus 1s "
                             f"per {self.pace.min_rate:g} bytes.", code="request_timeout")

    def _displaced(self) -> APIError:
        return closing_error(HTTPStatus.REQUEST_TIMEOUT, f"The gateway was reading "
                             f"{self.reading.capacity} request bodies, its limit, and this one "
                             "had been arriving longest; send it again.",
                             code="request_timeout", retry_after=True)


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared ``Content-Length`` (``None`` if none) and whether the body is chunked.

    Neither: the request has no body (RFC 9112, 6.3).  A malformed length never gets
    this far: the server's parser refuses it with 400.
    """
    declared, chunked = None, False
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


def _arrived(scope: Scope) -> bool:
    arrival = scope.get("extensions", {}).get(ARRIVAL)
    return isinstance(arrival, BodyArrival) and arrival.complete


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app below: the body once, then the client's own channel,
    which from then on carries nothing but its disconnection."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
