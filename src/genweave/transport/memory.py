"""An in-memory transport pair: real framing and codec, no sockets.

The ``codec`` placement runs every group in one process but sends each call
between groups through this transport, so tests catch anything that would not
survive serialisation without paying for processes.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["MemoryTransport", "connect_pair"]


class MemoryTransport(asyncio.Transport):
    """One end of a pipe whose writes arrive at the peer's protocol on the next loop turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self._peer: MemoryTransport | None = None
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing and self._peer is not None:
            self._loop.call_soon(self._peer._deliver, bytes(data))

    def _deliver(self, data: bytes) -> None:
        if not self._closing:
            self._protocol.data_received(data)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.call_soon(self._protocol.connection_lost, None)
        if self._peer is not None:
            self._loop.call_soon(self._peer.close)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": "memory"}.get(name, default)

    def can_write_eof(self) -> bool:
        return False


def connect_pair(client: asyncio.Protocol, server: asyncio.Protocol) -> None:
    """Connect two protocols back to back and tell both, server first."""
    loop = asyncio.get_running_loop()
    client_end = MemoryTransport(loop, client)
    server_end = MemoryTransport(loop, server)
    client_end._peer, server_end._peer = server_end, client_end
    server.connection_made(server_end)
    client.connection_made(client_end)
