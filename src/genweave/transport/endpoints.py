"""Addresses, listening and connecting for every transport.

An address is a string: ``unix:/run/x.sock``, ``tcp:127.0.0.1:7000`` or
``memory:NAME`` (in-process, for the ``codec`` placement).  TCP connections
of an app this process holds a certificate for (``tls.use_tls``) are mutual TLS.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable

from genweave.errors import Unavailable
from genweave.transport.client import ClientConnection
from genweave.transport.memory import connect_pair
from genweave.transport.server import RequestDispatcher, ServerConnection
from genweave.transport.tls import InPlaceReads, tls_contexts

__all__ = ["connect", "listen", "memory_servers"]

memory_servers: dict[str, RequestDispatcher] = {}
"""``memory:NAME`` addresses of this process."""


async def listen(address: str, dispatcher: RequestDispatcher,
                 tls: ssl.SSLContext | None = None) -> tuple[asyncio.AbstractServer | None, str]:
    """Serve ``dispatcher`` at ``address``; return the server and the bound address.

    ``tcp:HOST:0`` binds a free port; the returned address names it.  TCP is
    TLS with ``tls``, or with the context ``use_tls`` registered for the app.
    """
    scheme, _, rest = address.partition(":")
    loop = asyncio.get_running_loop()

    def factory() -> ServerConnection:
        return ServerConnection(dispatcher)

    if scheme == "memory":
        memory_servers[rest] = dispatcher
        return None, address
    if scheme == "unix":
        if os.path.exists(rest):
            os.unlink(rest)
        server = await loop.create_unix_server(factory, rest)
        return server, address
    if scheme == "tcp":
        host, _, port = rest.rpartition(":")
        contexts = tls_contexts(dispatcher.welcome.app)
        context = tls or (contexts[0] if contexts else None)
        server = await loop.create_server(
            factory if context is None else lambda: InPlaceReads(factory()), host, int(port),
            ssl=context)
        bound_port = server.sockets[0].getsockname()[1]
        return server, f"tcp:{host}:{bound_port}"
    raise ValueError(f"unknown address scheme in {address!r}")


async def connect(address: str, factory: Callable[[], ClientConnection],
                  timeout: float = 5.0) -> ClientConnection:
    """Open a connection and complete the handshake, or raise ``Unavailable``."""
    scheme, _, rest = address.partition(":")
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            if scheme == "memory":
                dispatcher = memory_servers.get(rest)
                if dispatcher is None:
                    raise ConnectionRefusedError(f"no in-memory server named {rest!r}")
                protocol = factory()
                connect_pair(protocol, ServerConnection(dispatcher))
            elif scheme == "unix":
                _, protocol = await loop.create_unix_connection(factory, rest)
            elif scheme == "tcp":
                host, _, port = rest.rpartition(":")
                protocol = factory()
                contexts = tls_contexts(protocol.app)
                tls = protocol.tls or (contexts[1] if contexts else None)
                await loop.create_connection(
                    lambda: protocol if tls is None else InPlaceReads(protocol), host, int(port),
                    ssl=tls)
            else:
                raise ValueError(f"unknown address scheme in {address!r}")
            await protocol.handshake()
    except (OSError, TimeoutError) as exc:
        raise Unavailable(f"cannot connect to {address}: {exc or 'timed out'}") from None
    return protocol
