"""The in-memory transport pair: bytes cross on the next loop turn, and closing ends both."""

from __future__ import annotations

import asyncio

from conftest import eventually
from genweave.transport.memory import connect_pair


class Peer(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = b""
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def paired() -> tuple[Peer, Peer]:
    client, server = Peer(), Peer()
    connect_pair(client, server)
    assert client.transport is not None and server.transport is not None
    return client, server


async def test_bytes_written_at_one_end_arrive_at_the_other_on_a_later_turn() -> None:
    client, server = paired()
    assert client.transport is not None
    client.transport.write(b"hello")
    assert server.received == b""  # never inside the writer's own call, as with a socket
    await eventually(lambda: server.received == b"hello")


async def test_closing_one_end_closes_both_and_drops_later_writes() -> None:
    client, server = paired()
    assert client.transport is not None and server.transport is not None
    client.transport.close()
    assert client.transport.is_closing()
    await eventually(lambda: client.lost and server.lost)
    server.transport.write(b"too late")
    client.transport.write(b"too late")
    for _ in range(3):
        await asyncio.sleep(0)
    assert client.received == server.received == b""
