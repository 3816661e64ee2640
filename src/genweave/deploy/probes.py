"""A replica's probe port: ``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP.

Kubernetes asks ``/healthz`` (liveness: 200 while the process answers) and
``/readyz`` (readiness: 200 once the group is started and listening, 503 while
it starts and from the moment it drains, so that its Service drops it), and
Prometheus scrapes ``/metrics`` (this replica's calls, in the text format of
``genweave.observe.prometheus``).

Three GET routes need no web framework: a small asyncio server answers them,
one request per connection.  Importing uvicorn and starlette in a worker that
has imported genweave took 35-49 ms more, and starting uvicorn 4-7 ms (the
asyncio server: under 1 ms), about an eighth of a worker's ~360 ms start,
measured on a shared 2-core machine, for no behaviour the probes use.

Example::

    probes = ProbeServer("0.0.0.0", 8080, metrics=lambda: b"")
    await probes.start()
    probes.state = "ready"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Final, Literal, NamedTuple

from genweave.observe.prometheus import CONTENT_TYPE

__all__ = ["ProbeServer", "Response", "State", "respond"]

State = Literal["starting", "ready", "draining"]
"""Where the replica is: readiness answers 200 only when ``ready``."""
READ_TIMEOUT: Final = 5.0
"""Seconds a client has to send its request."""
MAX_REQUEST: Final = 16 * 1024
_JSON: Final = "application/json"

logger = logging.getLogger("genweave.probes")


class Response(NamedTuple):
    status: HTTPStatus
    content_type: str
    body: bytes


def respond(method: str, path: str, state: State, metrics: Callable[[], bytes]) -> Response:
    """The answer to one request, given the replica's state: the probes' whole rule."""
    if method not in ("GET", "HEAD"):
        return _json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only GET is served here"})
    route = path.partition("?")[0]
    if route == "/healthz":
        return _json(HTTPStatus.OK, {"status": "ok"})
    if route == "/readyz":
        ready = state == "ready"
        return _json(HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
                     {"ready": ready, "state": state})
    if route == "/metrics":
        return Response(HTTPStatus.OK, CONTENT_TYPE, metrics())
    return _json(HTTPStatus.NOT_FOUND, {"error": f"no {route} here; try /healthz, /readyz "
                                                 "or /metrics"})


def _json(status: HTTPStatus, body: dict[str, object]) -> Response:
    return Response(status, _JSON, json.dumps(body).encode())


class ProbeServer:
    """Serves ``respond`` on ``host:port`` (port 0: a free one) until ``close``."""

    def __init__(self, host: str, port: int, metrics: Callable[[], bytes]) -> None:
        self.host = host
        self.requested_port = port
        self.metrics = metrics
        self.state: State = "starting"
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "probe server not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self.host,
                                                      self.requested_port, reuse_address=True)
        except OSError as exc:
            raise OSError(exc.errno, f"probes cannot listen on {self.host}:"
                          f"{self.requested_port}: {exc.strerror}") from None
        logger.info("probes on http://%s:%d (/healthz, /readyz, /metrics)", self.host, self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            method, path, *_ = head[:MAX_REQUEST].decode("latin-1").split(" ", 2)
            response = respond(method, path, self.state, self.metrics)
            writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % (
                             response.status, response.status.phrase.encode(),
                             response.content_type.encode(), len(response.body)))
            if method != "HEAD":
                writer.write(response.body)
            await writer.drain()
        except (TimeoutError, ValueError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ConnectionError):
            pass  # a client that sent no request, or went away: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
