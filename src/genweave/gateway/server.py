"""Running the gateway's ASGI app with uvicorn inside a genweave process.

The server shares the worker's event loop, so a request reaches components in
the same group by a direct call.  Several gateway replicas share one port with
``SO_REUSEPORT``; the kernel spreads connections over them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["HttpServer"]

logger = logging.getLogger("genweave.gateway")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: the genweave process owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """Serve an ASGI app on ``host:port`` until ``stop()``.

    Example::

        server = HttpServer(app, "127.0.0.1", 8000)
        await server.start()
        ...
        await server.stop()
    """

    def __init__(self, app: Any, host: str, port: int, *, graceful_seconds: int = 5) -> None:
        self.host = host
        self.requested_port = port
        self._config = uvicorn.Config(app, log_config=None, lifespan="off", access_log=False,
                                      timeout_graceful_shutdown=graceful_seconds,
                                      server_header=False)
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
