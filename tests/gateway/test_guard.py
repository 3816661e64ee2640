"""The layers in their order: probes let through, the proxy's peer bounded by connections
while the client behind it is bounded by requests, a body read before it counts."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from conftest import eventually
from genweave.gateway.body import ReadBody
from genweave.gateway.connections import EXTENSION, ConnectionCount
from genweave.gateway.guard import Exempt, guarded
from genweave.gateway.limits import HttpLimits

PROBE = "/healthz"
LIMITS = HttpLimits(max_connections=10, max_connections_per_client=1,
                    max_requests_per_client=1, trusted_proxies=["10.0.0.0/8"])
FLOODED = ConnectionCount(open=1000, from_peer=1000)
ALONE = ConnectionCount(open=1, from_peer=1)


def request(path: str, client: str = "203.0.113.9", forwarded: str | None = None,
            connections: ConnectionCount = ALONE) -> Scope:
    headers = [] if forwarded is None else [(b"x-forwarded-for", forwarded.encode())]
    return {"type": "http", "method": "GET", "path": path, "headers": headers,
            "client": (client, 5000), "extensions": {EXTENSION: connections}}


class Below:
    """Answers 200 after ``gate``, keeping the client each request came from."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.clients: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.clients.append(scope["client"][0])
        if scope["path"] != PROBE:
            await self.gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def status(app: Any, scope: Scope, body: list[Message] | None = None) -> int:
    inbox = list(body or [{"type": "http.request", "body": b"", "more_body": False}])
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop(0) if inbox else await asyncio.Event().wait()  # type: ignore[func-returns-value]

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


def app_of(below: Below) -> Any:
    return guarded(below, LIMITS, max_body_bytes=1024, exempt={PROBE})


async def test_a_probe_answers_whatever_the_counts() -> None:
    app = app_of(Below())
    assert isinstance(app, Exempt) and app.paths == {PROBE}
    assert await status(app, request(PROBE, connections=FLOODED)) == 200
    assert await status(app, request("/v1/x", connections=FLOODED)) == 503


async def test_the_proxys_connections_are_not_bounded_per_client_but_its_clients_requests_are(
) -> None:
    below = Below()
    app = app_of(below)
    through_proxy = ConnectionCount(open=5, from_peer=5)
    first = asyncio.create_task(status(app, request("/v1/x", "10.0.0.7", "203.0.113.9",
                                                    through_proxy)))
    await eventually(lambda: below.clients == ["203.0.113.9"], what="the first request in")
    # The same client through the same proxy: past its one request in flight.
    assert await status(app, request("/v1/x", "10.0.0.7", "203.0.113.9", through_proxy)) == 429
    # Another client behind the proxy is served.
    second = asyncio.create_task(status(app, request("/v1/x", "10.0.0.7", "198.51.100.4",
                                                     through_proxy)))
    await eventually(lambda: len(below.clients) == 2, what="the second client in")
    below.gate.set()
    assert await asyncio.gather(first, second) == [200, 200]


async def test_a_body_still_arriving_does_not_count_as_a_request_in_flight() -> None:
    below = Below()
    below.gate.set()
    app = app_of(below)
    reader = app.limited.app.app  # ConnectionBounds -> ForwardedClient -> ReadBody
    assert isinstance(reader, ReadBody)
    sending = request("/v1/x")
    sending["headers"] = [(b"content-length", b"100")]
    slow = asyncio.create_task(status(app, sending, body=[
        {"type": "http.request", "body": b"{", "more_body": True}]))
    await eventually(lambda: len(reader.reading) == 1, what="the slow body being read")
    assert await status(app, request("/v1/x")) == 200  # the client's one place is free
    slow.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await slow
