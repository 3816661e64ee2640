"""The layers bounding what clients hold, each alone: connections in all and per client,
the client behind trusted proxies, requests in flight per client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from conftest import eventually
from genweave.gateway.admission import ClientInFlight, ConnectionBounds, ForwardedClient
from genweave.gateway.clients import TrustedProxies
from genweave.gateway.connections import EXTENSION, ConnectionCount
from genweave.gateway.limits import HttpLimits

PROXY = "10.0.0.7"
PROXIES = TrustedProxies(["10.0.0.0/8"])


def request(client: str = "203.0.113.9", *, forwarded: str | None = None,
            connections: ConnectionCount | None = None) -> Scope:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/x", "headers": headers,
                    "client": (client, 5000)}
    if connections is not None:
        scope["extensions"] = {EXTENSION: connections}
    return scope


class Exchange:
    """One request through ``app``: what was sent back, and what the app below saw."""

    def __init__(self) -> None:
        self.sent: list[Message] = []

    async def run(self, app: Any, scope: Scope) -> Exchange:
        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            self.sent.append(message)

        await app(scope, receive, send)
        return self

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    def error(self) -> dict[str, Any]:
        return json.loads(self.sent[1]["body"])["error"]  # type: ignore[no-any-return]


class Below:
    """Answers 200, keeping each scope it saw; ``gate``, when given, holds every request."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.scopes: list[Scope] = []
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if self.gate is not None:
            await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


LIMITS = HttpLimits(max_connections=10, max_connections_per_client=2)


async def test_past_the_total_of_connections_a_request_gets_503_and_its_connection_closes(
) -> None:
    answer = await Exchange().run(ConnectionBounds(Below(), LIMITS, PROXIES),
                                  request(connections=ConnectionCount(open=11, from_peer=1)))
    assert answer.status == 503
    assert answer.headers()[b"connection"] == b"close"
    assert answer.headers()[b"retry-after"] == b"1"
    assert answer.error()["code"] == "overloaded" and "10 connections" in answer.error()["message"]


async def test_past_the_connections_of_one_client_it_gets_429_naming_the_address() -> None:
    answer = await Exchange().run(ConnectionBounds(Below(), LIMITS, PROXIES),
                                  request(connections=ConnectionCount(open=3, from_peer=3)))
    assert answer.status == 429 and answer.headers()[b"connection"] == b"close"
    assert answer.error()["code"] == "too_many_connections"
    assert answer.error()["message"].startswith("203.0.113.9 holds 2 connections")


@pytest.mark.parametrize(("client", "connections"), [
    ("203.0.113.9", ConnectionCount(open=10, from_peer=2)),  # at the bounds, not past them
    (PROXY, ConnectionCount(open=10, from_peer=9)),  # a trusted proxy carries many clients
    ("203.0.113.9", None),  # a server that counts nothing (a test transport)
])
async def test_within_the_bounds_or_from_a_proxy_the_request_is_served(
    client: str, connections: ConnectionCount | None,
) -> None:
    below = Below()
    answer = await Exchange().run(ConnectionBounds(below, LIMITS, PROXIES),
                                  request(client, connections=connections))
    assert answer.status == 200 and len(below.scopes) == 1


async def test_a_trusted_proxy_names_the_client_and_anyone_else_is_not_believed() -> None:
    below = Below()
    layer = ForwardedClient(below, PROXIES)
    await Exchange().run(layer, request(PROXY, forwarded="1.1.1.1, 203.0.113.9"))
    await Exchange().run(layer, request("198.51.100.1", forwarded="203.0.113.9"))
    await Exchange().run(layer, request(PROXY))
    assert [s["client"][0] for s in below.scopes] == ["203.0.113.9", "198.51.100.1", PROXY]


async def test_without_trusted_proxies_the_header_is_ignored() -> None:
    below = Below()
    await Exchange().run(ForwardedClient(below, TrustedProxies([])),
                         request("127.0.0.1", forwarded="203.0.113.9"))
    assert below.scopes[0]["client"] == ("127.0.0.1", 5000)


async def test_one_client_past_its_requests_in_flight_gets_429_and_others_are_served() -> None:
    gate = asyncio.Event()
    layer = ClientInFlight(Below(gate), limit=2, proxies=PROXIES)
    held = [asyncio.create_task(Exchange().run(layer, request())) for _ in range(2)]
    await eventually(lambda: layer.counts.held("203.0.113.9") == 2, what="two held")
    refused = await Exchange().run(layer, request())
    assert refused.status == 429 and refused.headers()[b"retry-after"] == b"1"
    assert b"connection" not in refused.headers()  # its body was read: the connection stays
    assert refused.error()["code"] == "too_many_requests_in_flight"
    assert refused.error()["message"].startswith("203.0.113.9 has 2 requests in flight")
    other = asyncio.create_task(Exchange().run(layer, request("198.51.100.1")))
    await eventually(lambda: layer.counts.held("198.51.100.1") == 1, what="another client in")
    gate.set()
    assert [e.status for e in await asyncio.gather(*held, other)] == [200, 200, 200]
    assert (await Exchange().run(layer, request())).status == 200  # released


async def test_a_failing_request_gives_its_place_back() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    layer = ClientInFlight(failing, limit=1, proxies=PROXIES)
    with pytest.raises(RuntimeError):
        await Exchange().run(layer, request())
    assert layer.counts.held("203.0.113.9") == 0


async def test_a_proxy_speaking_for_itself_is_not_bounded() -> None:
    gate = asyncio.Event()
    layer = ClientInFlight(Below(gate), limit=1, proxies=PROXIES)
    held = [asyncio.create_task(Exchange().run(layer, request(PROXY))) for _ in range(3)]
    await eventually(lambda: len(layer.app.scopes) == 3, what="three from the proxy")  # type: ignore[attr-defined]
    gate.set()
    assert [e.status for e in await asyncio.gather(*held)] == [200, 200, 200]
