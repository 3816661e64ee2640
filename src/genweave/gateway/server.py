"""Running the gateway's ASGI app with uvicorn inside a genweave process.

The server shares the worker's event loop, so a request reaches components in
the same group by a direct call.  Several gateway replicas share one port with
``SO_REUSEPORT``; the kernel spreads connections over them.  Each connection
runs under :class:`~genweave.gateway.protocol.GuardedHttpToolsProtocol`, which
bounds what uvicorn leaves unbounded (see :mod:`genweave.gateway.limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from genweave.gateway.connections import ConnectionTable
from genweave.gateway.limits import HttpLimits
from genweave.gateway.protocol import GuardedHttpToolsProtocol

__all__ = ["HttpServer"]

logger = logging.getLogger("genweave.gateway")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the genweave process owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """Serve an ASGI app on ``host:port`` until ``stop()``, under ``limits``.

    An :class:`~genweave.gateway.api.Api`'s app takes the same ``limits``: the
    server bounds connections and what arrives before a request exists, the
    app what a request holds once it does.

    Example::

        server = HttpServer(api.asgi(), "127.0.0.1", 8000, limits=api.limits)
        await server.start()
        ...
        await server.stop()
    """

    def __init__(self, app: Any, host: str, port: int, *, graceful_seconds: int = 5,
                 limits: HttpLimits | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.limits = limits or HttpLimits()
        self.connections = ConnectionTable()
        """Open connections per peer; each request's scope carries the counts."""
        protocol = GuardedHttpToolsProtocol.bound(self.limits, self.connections)
        # proxy_headers off: ForwardedClient (genweave.gateway.admission) names the client
        # behind the configured proxies only; uvicorn's would believe 127.0.0.1 by default.
        # No websockets: no route uses them, and an upgraded connection leaves these limits.
        self._config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False,
                                      timeout_graceful_shutdown=graceful_seconds,
                                      server_header=False, http=protocol, ws="none",
                                      proxy_headers=False,
                                      timeout_keep_alive=self.limits.keep_alive_timeout)
        self._server = _EmbeddedServer(self._config)
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "server not started"
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """Where clients reach it; an IPv6 host goes in brackets (``http://[::1]:8000``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._socket = _listen(self.host, self.requested_port)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup error
            await asyncio.sleep(0.01)
        logger.info("gateway listening on %s", self.url)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        if self._socket is not None:
            self._socket.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"gateway cannot listen on {host}:{port}: {exc.strerror}") \
            from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock
