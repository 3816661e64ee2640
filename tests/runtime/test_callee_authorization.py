"""A replica takes each call only from callers the Ref graph allows, over a real socket.

The callee is told the app's grants, as ``genweave worker`` does; callers
connect over a Unix socket (their identity is their handshake, the socket's
owner proven by ``SO_PEERCRED``) and call as different groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from bank_app import APP, TOPOLOGY, Vault

from genweave import PermissionDenied
from genweave.codec import encoder
from genweave.component import spec_of
from genweave.gateway.errors import from_call_error
from genweave.observe.metrics import REGISTRY
from genweave.runtime.authorization import granted_calls
from genweave.runtime.callee import Callee
from genweave.transport.client import ClientConnection
from genweave.transport.endpoints import connect, listen
from genweave.transport.messages import HEADER, Failure, Request, message_decoder


@pytest.fixture
async def vault(tmp_path: Path) -> AsyncIterator[tuple[Callee, str]]:
    callee = Callee("bank", "vault/0", {"Vault": (Vault(), spec_of(Vault))})
    callee.enforce(granted_calls(APP, TOPOLOGY))
    server, address = await listen(f"unix:{tmp_path / 'vault.sock'}", callee)
    assert server is not None
    yield callee, address
    server.close()
    await server.wait_closed()


async def secret(address: str, caller: str) -> str:
    connection = await connect(address, lambda: ClientConnection("bank", caller))
    try:
        spec = spec_of(Vault).methods["secret"]
        result: str = await connection.call(spec, spec.args_type(), {}, 5.0, "")
        return result
    finally:
        connection.close()


async def test_a_group_whose_component_declares_the_ref_is_served(
        vault: tuple[Callee, str]) -> None:
    assert await secret(vault[1], "teller/0") == "42"


async def test_the_control_identity_is_served(vault: tuple[Callee, str]) -> None:
    assert await secret(vault[1], "client") == "42"


async def test_a_group_without_a_ref_is_refused_counted_and_logged(
        vault: tuple[Callee, str], caplog: pytest.LogCaptureFixture) -> None:
    callee, address = vault
    errors = REGISTRY.method("Vault", "secret").snapshot().errors
    with pytest.raises(PermissionDenied, match="caller 'lobby' may not call it") as refused:
        await secret(address, "lobby/0")
    assert refused.value.target == "Vault.secret"
    assert refused.value.where == "vault/0"
    assert callee.denied == 1
    assert REGISTRY.method("Vault", "secret").snapshot().errors == errors + 1
    assert "refused Vault.secret to lobby ('lobby/0' from unix)" in caplog.text
    assert from_call_error(refused.value).status == 403


async def test_a_peer_of_another_user_is_refused_at_the_handshake(
        vault: tuple[Callee, str]) -> None:
    callee, address = vault
    callee.owner_uid += 1  # as if the socket belonged to someone else
    with pytest.raises(PermissionDenied, match=r"only uid \d+, the owner"):
        await secret(address, "teller/0")
    assert callee.denied == 1


async def test_requests_before_the_handshake_are_refused(vault: tuple[Callee, str]) -> None:
    _, address = vault
    reader, writer = await asyncio.open_unix_connection(address.removeprefix("unix:"))
    try:
        payload = encoder.encode(Request(1, "Vault", "secret", msgspec.Raw(encoder.encode([]))))
        writer.write(len(payload).to_bytes(HEADER, "big") + payload)
        length = int.from_bytes(await reader.readexactly(HEADER), "big")
        answer = message_decoder.decode(await reader.readexactly(length))
    finally:
        writer.close()
    assert isinstance(answer, Failure)
    assert answer.kind == "PermissionDenied"
    assert "before its handshake" in answer.message
