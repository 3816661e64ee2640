"""What the transport proves about a peer: its uid and pid over a Unix socket, nothing over TCP."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from genweave.transport.peer import Peer, peer_of


class _Keep(asyncio.Protocol):
    def __init__(self, seen: asyncio.Future[Peer]) -> None:
        self.seen = seen

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.seen.set_result(peer_of(transport))


async def test_a_unix_peer_is_known_by_its_uid_and_pid(tmp_path: Path) -> None:
    seen: asyncio.Future[Peer] = asyncio.get_running_loop().create_future()
    path = str(tmp_path / "peer.sock")
    server = await asyncio.get_running_loop().create_unix_server(lambda: _Keep(seen), path)
    _, writer = await asyncio.open_unix_connection(path)
    try:
        peer = await seen
    finally:
        writer.close()
        server.close()
    assert (peer.uid, peer.pid, peer.tls) == (os.getuid(), os.getpid(), False)


async def test_a_plain_tcp_peer_proves_nothing_but_its_address() -> None:
    seen: asyncio.Future[Peer] = asyncio.get_running_loop().create_future()
    server = await asyncio.get_running_loop().create_server(lambda: _Keep(seen), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        peer = await seen
    finally:
        writer.close()
        server.close()
    assert peer.uid is None and not peer.certificate_uris
    assert peer.address.startswith("127.0.0.1:")
