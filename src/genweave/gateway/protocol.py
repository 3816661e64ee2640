"""uvicorn's httptools protocol, with the limits a server facing strangers needs.

What uvicorn gives is used as it is: the keep-alive timeout (``timeout_keep_alive``,
set from :class:`~genweave.gateway.limits.HttpLimits`), write flow control (an
ASGI ``send`` waits while the transport's buffer is above its high-water mark),
and the pause of reading once 64 KiB of an unread body are buffered.  What it
lacks is written here, because it can only live where the bytes arrive, before
any ASGI app exists for the request:

- a deadline for the request line and headers.  uvicorn has none (encode/uvicorn
  issue 157): its keep-alive timer is cancelled by the first byte, so a client
  trickling a header byte now and then holds its connection for ever;
- a bound on their size.  httptools has none (``h11_max_incomplete_event_size``
  is the h11 protocol's alone); a header may grow until memory runs out;
- a deadline for a stalled answer.  Flow control makes ``send`` wait for a client
  that does not read, but for ever; past ``write_timeout`` the connection is
  dropped, which ends the ``send``, and the app's stream is cancelled;
- the count of connections per peer, handed to the app in each request's scope
  (:mod:`genweave.gateway.connections`), and whether its body has arrived whole
  (:class:`~genweave.gateway.body.BodyArrival`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, ClassVar, Final, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from genweave.gateway.body import ARRIVAL, BodyArrival
from genweave.gateway.connections import EXTENSION, ConnectionTable
from genweave.gateway.errors import APIError
from genweave.gateway.limits import HttpLimits

__all__ = ["GuardedHttpToolsProtocol"]

logger = logging.getLogger("genweave.gateway")

_RESET: Final = struct.pack("ii", 1, 0)
"""``SO_LINGER`` on, 0 s: closing sends a reset and frees the socket's buffers at once."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """One connection, under ``limits``; uvicorn makes one per accepted connection.

    uvicorn builds protocols itself from a class, so each server gets a
    subclass bound to its limits and its table of connections::

        protocol = GuardedHttpToolsProtocol.bound(HttpLimits(), ConnectionTable())
        uvicorn.Config(app, http=protocol)
    """

    limits: ClassVar[HttpLimits]
    table: ClassVar[ConnectionTable]

    @classmethod
    def bound(cls, limits: HttpLimits, table: ConnectionTable) -> type[GuardedHttpToolsProtocol]:
        return type(cls.__name__, (cls,), {"limits": limits, "table": table})

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._peer: str | None = None
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer = _Timer(self.loop, self.limits.header_timeout, self._headers_too_slow)
        self._write_timer = _Timer(self.loop, self.limits.write_timeout, self._write_stalled)
        self._arrival = BodyArrival()

    # -- the connection ---------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer = self.client[0] if self.client else ""
        self.table.opened(self._peer)
        transport.set_write_buffer_limits(high=self.limits.write_buffer_bytes)
        self._header_timer.arm()  # from the start: a connection that never speaks is slow too

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer.cancel()
        self._write_timer.cancel()
        if self._peer is not None:
            self.table.closed(self._peer)
            self._peer = None
        super().connection_lost(exc)

    # -- reading the request line and headers -----------------------------------

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_headers and not self.transport.is_closing():
            # Counted after parsing: the chunk that completes the headers has cleared
            # the flag, so a body arriving with them never counts as header bytes.
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(APIError(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"The request line and headers are larger than the "
                    f"{self.limits.max_header_bytes}-byte limit.", code="headers_too_large"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_timer.arm()  # a kept-alive connection's next request: from its first byte

    def on_headers_complete(self) -> None:
        self._header_timer.cancel()
        self._awaiting_headers = False
        self._header_bytes = 0
        assert self._peer is not None
        self._arrival = BodyArrival()
        scope = cast(dict[str, Any], self.scope)
        scope["extensions"] = {**scope.get("extensions", {}),
                               EXTENSION: self.table.count(self._peer), ARRIVAL: self._arrival}
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._arrival.complete = True

    def _headers_too_slow(self) -> None:
        if self._awaiting_headers and not self.transport.is_closing():
            logger.debug("%s: no complete request headers within %gs; closed", self._peer,
                         self.limits.header_timeout)
            self._refuse(APIError(
                HTTPStatus.REQUEST_TIMEOUT, f"The request headers did not arrive within "
                f"{self.limits.header_timeout:g}s.", code="request_timeout"))

    def _refuse(self, error: APIError) -> None:
        """Answer ``error`` and close, unless an answer is already on its way (then only close)."""
        self._header_timer.cancel()
        if self.cycle is None or self.cycle.response_complete:
            body = error.body()
            head = [STATUS_LINE[error.status]]
            head += [name + b": " + value + b"\r\n"
                     for name, value in self.server_state.default_headers]
            head += [b"content-type: application/json\r\n",
                     b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n"]
            self.transport.write(b"".join(head) + body)
        self.transport.close()

    # -- writing the answer -----------------------------------------------------

    def pause_writing(self) -> None:
        """The client is not reading: ``send`` waits from now on, for ``write_timeout`` at most."""
        super().pause_writing()
        self._write_timer.arm()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._write_timer.cancel()

    def _write_stalled(self) -> None:
        logger.debug("%s: read nothing of its answer for %gs; dropped", self._peer,
                     self.limits.write_timeout)
        # A reset, not a close: a close would wait for the buffers to drain, which they never
        # will; the kernel would keep the socket (and up to megabytes of its send buffer)
        # as long as the client keeps its window shut.  Lingering 0 s drops both at once.
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        # connection_lost follows, which ends the waiting send and tells the app the
        # client is gone (an http.disconnect), so its stream is cancelled.
        self.transport.abort()


class _Timer:
    """``callback`` after ``delay`` seconds from ``arm()``, unless cancelled first; arming an
    armed timer keeps its first deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float,
                 callback: Callable[[], None]) -> None:
        self._loop = loop
        self._delay = delay
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(self._delay, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        self._callback()
