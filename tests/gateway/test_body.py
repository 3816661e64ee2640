"""ReadBody alone, with a scripted client: the app below sees whole bodies only, and a body
too slow, too large or displaced is answered and its connection closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from conftest import eventually
from genweave.gateway.body import ARRIVAL, BodyArrival, ReadBody
from genweave.gateway.pacing import BodyPace

LIMIT = 100


class Peer:
    """The server's side of ASGI for one request: body parts to hand over, messages sent."""

    def __init__(self, content_length: int | None = None) -> None:
        headers = [(b"transfer-encoding", b"chunked")] if content_length is None else [
            (b"content-length", str(content_length).encode())]
        self.scope: Scope = {"type": "http", "method": "POST", "path": "/v1/x",
                             "headers": headers, "client": ("203.0.113.9", 5000)}
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []

    def part(self, data: bytes, more: bool = True) -> None:
        self.inbox.put_nowait({"type": "http.request", "body": data, "more_body": more})

    def leave(self) -> None:
        self.inbox.put_nowait({"type": "http.disconnect"})

    async def receive(self) -> Message:
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int | None:
        return self.sent[0]["status"] if self.sent else None

    def header(self, name: bytes) -> bytes | None:
        return dict(self.sent[0]["headers"]).get(name) if self.sent else None

    def error(self) -> dict[str, Any]:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))["error"]  # type: ignore[no-any-return]


class Below:
    """The app below: keeps the first message it receives and, when ``listening``, the next."""

    def __init__(self, listening: bool = False) -> None:
        self.listening = listening
        self.first: Message | None = None
        self.then: Message | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.first = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        if self.listening:
            self.then = await receive()


def layer(below: Below, timeout: float = 5.0, min_rate: float = 1000,
          max_reading: int = 8) -> ReadBody:
    return ReadBody(below, max_body_bytes=LIMIT, pace=BodyPace(timeout, min_rate),
                    max_reading=max_reading)


async def test_the_app_gets_the_whole_body_once_then_the_clients_own_channel() -> None:
    below, peer = Below(listening=True), Peer()
    for part in (b'{"te', b'xt": ', b'"hi"}'):
        peer.part(part)
    peer.part(b"", more=False)
    peer.leave()
    await layer(below)(peer.scope, peer.receive, peer.send)
    assert below.first == {"type": "http.request", "body": b'{"text": "hi"}', "more_body": False}
    assert below.then == {"type": "http.disconnect"}
    assert peer.status == 200


async def test_a_declared_size_over_the_limit_is_refused_before_reading() -> None:
    below, peer = Below(), Peer(content_length=LIMIT + 1)
    await layer(below)(peer.scope, peer.receive, peer.send)
    assert peer.status == 413 and peer.header(b"connection") == b"close"
    assert peer.error()["code"] == "request_too_large"
    assert below.first is None and peer.inbox.empty()


async def test_a_body_growing_past_the_limit_is_refused_when_it_does() -> None:
    below, peer = Below(), Peer()
    peer.part(b"x" * 60)
    peer.part(b"x" * 60)
    await layer(below)(peer.scope, peer.receive, peer.send)
    assert peer.status == 413 and below.first is None


async def test_a_trickling_body_gets_408_once_its_time_is_up_and_the_connection_closes() -> None:
    below, peer = Below(), Peer(content_length=LIMIT)
    peer.part(b"{")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await layer(below, timeout=0.2)(peer.scope, peer.receive, peer.send)
    assert 0.2 <= loop.time() - began < 2.0
    assert peer.status == 408 and peer.header(b"connection") == b"close"
    error = peer.error()
    assert error["code"] == "request_timeout" and error["type"] == "timeout_error"
    assert "1 bytes so far" in error["message"] and below.first is None


async def test_a_body_at_a_fair_rate_may_take_longer_than_the_timeout() -> None:
    below, peer = Below(), Peer()

    async def client() -> None:
        for _ in range(8):  # 10 bytes per 50 ms: 200 B/s, twice the floor, for 0.4 s
            peer.part(b"x" * 10)
            await asyncio.sleep(0.05)
        peer.part(b"", more=False)

    sending = asyncio.create_task(client())
    await layer(below, timeout=0.15, min_rate=100)(peer.scope, peer.receive, peer.send)
    await sending
    assert peer.status == 200 and below.first is not None
    assert below.first["body"] == b"x" * 80


async def test_a_newcomer_displaces_the_body_reading_longest_at_once() -> None:
    below = Below()
    reader = layer(below, timeout=30.0, max_reading=1)
    slow, ready = Peer(), Peer()
    slow.part(b"{")
    waiting = asyncio.create_task(reader(slow.scope, slow.receive, slow.send))
    await eventually(lambda: len(reader.reading) == 1, what="the slow body being read")
    ready.part(b"{}", more=False)
    await reader(ready.scope, ready.receive, ready.send)
    await asyncio.wait_for(waiting, 2.0)  # not the 30 s of its pace
    assert ready.status == 200
    assert slow.status == 408 and slow.header(b"retry-after") == b"1"
    assert "reading 1 request bodies, its limit" in slow.error()["message"]
    assert len(reader.reading) == 0


async def test_a_client_that_leaves_mid_body_gets_nothing_and_the_app_is_not_called() -> None:
    below, peer = Below(), Peer()
    peer.part(b"{")
    peer.leave()
    await layer(below)(peer.scope, peer.receive, peer.send)
    assert peer.sent == [] and below.first is None


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"0")]])
async def test_a_request_without_a_body_goes_straight_through(
    headers: list[tuple[bytes, bytes]],
) -> None:
    below, peer = Below(), Peer()
    peer.scope["headers"] = headers
    peer.part(b"", more=False)
    reader = layer(below, max_reading=1)
    await reader(peer.scope, peer.receive, peer.send)
    assert peer.status == 200 and below.first is not None and below.first["body"] == b""
    assert len(reader.reading) == 0


async def test_a_body_the_server_holds_whole_goes_straight_through() -> None:
    below, peer = Below(), Peer(content_length=2)
    peer.scope["extensions"] = {ARRIVAL: BodyArrival(complete=True)}
    peer.part(b"{}", more=False)
    reader = layer(below, max_reading=1)
    await reader(peer.scope, peer.receive, peer.send)
    assert peer.status == 200 and below.first is not None and below.first["body"] == b"{}"
    assert len(reader.reading) == 0


async def test_a_whole_body_over_the_limit_is_still_refused() -> None:
    below, peer = Below(), Peer(content_length=LIMIT + 1)
    peer.scope["extensions"] = {ARRIVAL: BodyArrival(complete=True)}
    await layer(below)(peer.scope, peer.receive, peer.send)
    assert peer.status == 413 and below.first is None


async def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    reader = ReadBody(app, max_body_bytes=LIMIT, pace=BodyPace(1.0, 1), max_reading=1)
    await reader({"type": "lifespan"}, Peer().receive, Peer().send)
    assert seen == ["lifespan"]
