"""Addresses: the same listen and connect for in-memory, Unix socket and TCP transports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from genweave import Unavailable
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect, listen, memory_servers
from genweave.transport.messages import PROTOCOL_VERSION, Request, Welcome
from genweave.transport.server import RequestDispatcher, ServerConnection


class Greeter(RequestDispatcher):
    """A replica with nothing to serve: enough to complete a handshake."""

    def __init__(self) -> None:
        super().__init__(Welcome(PROTOCOL_VERSION, "app", "greeter/0", {}))

    def dispatch(self, request: Request, connection: ServerConnection) -> None:
        return None


def new_client() -> ClientConnection:
    return ClientConnection("app", "tester")


@pytest.fixture
async def servers() -> AsyncIterator[list[asyncio.AbstractServer]]:
    opened: list[asyncio.AbstractServer] = []
    yield opened
    for server in opened:
        server.close()


@pytest.mark.parametrize("kind", ["memory", "unix", "tcp"])
async def test_a_caller_connects_where_a_replica_listens(
    kind: str, tmp_path: Path, servers: list[asyncio.AbstractServer]
) -> None:
    address = {"memory": "memory:endpoints-test", "unix": f"unix:{tmp_path}/g.sock",
               "tcp": "tcp:127.0.0.1:0"}[kind]
    server, bound = await listen(address, Greeter())
    if server is not None:
        servers.append(server)
    try:
        if kind == "tcp":
            assert bound.startswith("tcp:127.0.0.1:") and not bound.endswith(":0")
        else:
            assert bound == address
        connection = await connect(bound, new_client)
        assert connection.is_open and connection.where == "greeter/0"
        connection.close()
    finally:
        memory_servers.pop("endpoints-test", None)


async def test_listening_again_on_a_unix_path_replaces_a_stale_socket(
    tmp_path: Path, servers: list[asyncio.AbstractServer]
) -> None:
    stale = tmp_path / "g.sock"
    stale.write_text("left over by a replica that died")
    server, address = await listen(f"unix:{stale}", Greeter())
    assert server is not None
    servers.append(server)
    (await connect(address, new_client)).close()


@pytest.mark.parametrize("address", ["memory:nobody-here", "unix:/nonexistent/g.sock"])
async def test_connecting_where_nothing_listens_is_unavailable(address: str) -> None:
    with pytest.raises(Unavailable, match=f"cannot connect to {address}"):
        await connect(address, new_client)


async def test_an_unknown_address_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown address scheme in 'udp:x'"):
        await listen("udp:x", Greeter())
    with pytest.raises(ValueError, match="unknown address scheme in 'udp:x'"):
        await connect("udp:x", new_client)
