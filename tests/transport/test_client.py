"""The caller's connection: calls matched to replies, deadlines, cancellation and lost peers.

A scripted callee (a bare framed protocol) answers as each test says, so what is
checked is only what the client does with the messages it gets, and sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest

from conftest import eventually
from genweave import (
    ConnectionLost,
    DeadlineExceeded,
    InterfaceMismatch,
    InvalidArgument,
    MessageTooLarge,
    Overloaded,
    ProtocolError,
    Unavailable,
    component,
)
from genweave.codec import encoder
from genweave.component import spec_of
from genweave.transport.client import ClientConnection
from genweave.transport.compat import interface_info
from genweave.transport.framing import FramedProtocol
from genweave.transport.memory import connect_pair
from genweave.transport.messages import (
    PROTOCOL_VERSION,
    STREAM_WINDOW,
    Cancel,
    Credit,
    End,
    Failure,
    Hello,
    Item,
    Message,
    Reply,
    Request,
    Welcome,
)

LIMIT = 4096


@component(name="Echo", version="2")
class Echo:
    async def echo(self, text: str) -> str:
        return text

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


@component(name="Echo", version="3")
class EchoWithRequiredLang:
    async def echo(self, text: str, lang: str) -> str:
        return text


ECHO = spec_of(Echo).methods["echo"]
COUNT = spec_of(Echo).methods["count"]
Script = Callable[["Callee", Request], None]


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(encoder.encode(value))


class Callee(FramedProtocol):
    """The other end: welcomes the caller, then answers each request as scripted."""

    def __init__(self, script: Script, app: str = "app", protocol: int = PROTOCOL_VERSION,
                 served: type = Echo) -> None:
        super().__init__(LIMIT)
        self.script = script
        self.welcome = Welcome(protocol, app, "echo/0", {"Echo": interface_info(spec_of(served))})
        self.received: list[Message] = []

    def message_received(self, message: Message) -> None:
        self.received.append(message)
        if isinstance(message, Hello):
            self.send(self.welcome)
        elif isinstance(message, Request):
            self.script(self, message)

    def of_type(self, kind: type) -> list[Message]:
        return [m for m in self.received if isinstance(m, kind)]


def silent(callee: Callee, request: Request) -> None:
    """Never answers."""


def echoing(callee: Callee, request: Request) -> None:
    callee.send(Reply(request.id, raw(ECHO.args_decoder.decode(request.args).text)))


async def connected(script: Script = echoing, client_app: str = "app",
                    **callee_options: object) -> tuple[ClientConnection, Callee]:
    callee = Callee(script, **callee_options)  # type: ignore[arg-type]
    client = ClientConnection(client_app, "tester", LIMIT)
    connect_pair(client, callee)
    await client.handshake()
    return client, callee


async def echo(client: ClientConnection, text: str, timeout: float | None = None) -> object:
    return await client.call(ECHO, ECHO.args_type(text), {}, timeout, "")


async def test_the_handshake_says_who_answers() -> None:
    client, _ = await connected()
    assert client.where == "echo/0" and client.interfaces["Echo"].version == "2"


@pytest.mark.parametrize(("options", "message"), [
    ({"app": "other"}, "for app 'other', expected protocol 1 for 'app'"),
    ({"protocol": 99}, "speaks protocol 99 for app 'app', expected protocol 1"),
])
async def test_the_handshake_refuses_another_app_or_protocol(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(Unavailable, match=message):
        await connected(**options)


async def test_a_probe_with_no_app_accepts_any_app() -> None:
    client, _ = await connected(client_app="", app="another")
    assert client.where == "echo/0"


async def test_concurrent_calls_get_their_own_replies_in_any_order() -> None:
    held: list[Request] = []

    def reverse(callee: Callee, request: Request) -> None:
        held.append(request)
        if len(held) == 3:
            for waiting in reversed(held):
                echoing(callee, waiting)

    client, _ = await connected(reverse)
    assert await asyncio.gather(*(echo(client, t) for t in "abc")) == ["a", "b", "c"]


async def test_a_call_past_its_timeout_fails_and_tells_the_callee_to_stop() -> None:
    client, callee = await connected(silent)
    with pytest.raises(DeadlineExceeded, match=r"Echo.echo: no result within 0.05s \(at echo/0\)"):
        await echo(client, "x", timeout=0.05)
    [request] = callee.of_type(Request)
    await eventually(lambda: callee.of_type(Cancel) == [Cancel(request.id)])


async def test_a_cancelled_caller_tells_the_callee_to_stop() -> None:
    client, callee = await connected(silent)
    call = asyncio.ensure_future(echo(client, "x"))
    await eventually(lambda: callee.of_type(Request))
    call.cancel()
    await eventually(lambda: callee.of_type(Cancel))


async def test_a_lost_connection_fails_the_calls_in_flight() -> None:
    client, callee = await connected(silent)
    call = asyncio.ensure_future(echo(client, "x"))
    await eventually(lambda: callee.of_type(Request))
    callee.close()
    with pytest.raises(ConnectionLost, match="lost while the call was in flight"):
        await call
    with pytest.raises(Unavailable, match="connection is closed"):
        await echo(client, "y")


async def test_an_incompatible_callee_is_refused_before_anything_is_sent() -> None:
    client, callee = await connected(served=EchoWithRequiredLang)
    with pytest.raises(InterfaceMismatch, match="caller has version 2, callee has version 3"):
        await echo(client, "x")
    assert callee.of_type(Request) == []


async def test_arguments_that_cannot_be_sent_are_refused_before_sending() -> None:
    client, callee = await connected()
    with pytest.raises(MessageTooLarge, match=rf"arguments encode to \d+ bytes, above the "
                                              rf"{LIMIT}-byte message limit"):
        await echo(client, "x" * 2 * LIMIT)
    with pytest.raises(InvalidArgument, match="cannot be sent"):
        await client.call(ECHO, ECHO.args_type(object()), {}, None, "")  # type: ignore[arg-type]
    assert callee.of_type(Request) == []
    assert await echo(client, "still fine") == "still fine"


async def test_a_malformed_result_is_a_protocol_error() -> None:
    def wrong_type(callee: Callee, request: Request) -> None:
        callee.send(Reply(request.id, raw(42)))

    client, _ = await connected(wrong_type)
    with pytest.raises(ProtocolError, match="Echo.echo at echo/0 returned a malformed result"):
        await echo(client, "x")


async def test_a_failure_arrives_as_the_error_it_names() -> None:
    def overloaded(callee: Callee, request: Request) -> None:
        callee.send(Failure(request.id, "Overloaded", "at its limit", "Echo", "echo", "echo/0"))

    client, _ = await connected(overloaded)
    with pytest.raises(Overloaded, match=r"Echo.echo: at its limit \(at echo/0\)"):
        await echo(client, "x")


def streaming(n: int, ending: Callable[[Request], Message | None] = lambda r: End(r.id),
              ) -> Script:
    """Send ``n`` items, then what ``ending`` makes of the request (nothing: silence)."""
    def script(callee: Callee, request: Request) -> None:
        for i in range(n):
            callee.send(Item(request.id, raw(i)))
        last = ending(request)
        if last is not None:
            callee.send(last)

    return script


def silence(request: Request) -> None:
    return None


async def test_a_stream_yields_its_items_then_ends() -> None:
    client, _ = await connected(streaming(3))
    items = client.stream(COUNT, COUNT.args_type(3), {}, None, "")
    assert [i async for i in items] == [0, 1, 2]


async def test_a_stream_grants_credit_as_its_items_are_consumed() -> None:
    client, callee = await connected(streaming(STREAM_WINDOW))
    items = client.stream(COUNT, COUNT.args_type(STREAM_WINDOW), {}, None, "")
    assert [i async for i in items] == list(range(STREAM_WINDOW))
    credits = await eventually(lambda: callee.of_type(Credit) if sum(
        c.n for c in callee.of_type(Credit)) == STREAM_WINDOW else [])
    assert all(c.n == STREAM_WINDOW // 2 for c in credits)  # granted in batches


async def test_a_failure_mid_stream_arrives_after_the_items_before_it() -> None:
    def broke(request: Request) -> Failure:
        return Failure(request.id, "ComponentError", "broke", "Echo", "count", "echo/0",
                       "builtins.RuntimeError")

    client, _ = await connected(streaming(2, broke))
    received = []
    with pytest.raises(RuntimeError, match="broke"):
        async for i in client.stream(COUNT, COUNT.args_type(3), {}, None, ""):
            received.append(i)
    assert received == [0, 1]


async def test_a_streams_timeout_covers_the_whole_stream() -> None:
    client, _ = await connected(streaming(1, silence))
    received = []
    with pytest.raises(DeadlineExceeded, match="stream not finished within 0.05s"):
        async for i in client.stream(COUNT, COUNT.args_type(3), {}, 0.05, ""):
            received.append(i)
    assert received == [0]


async def test_leaving_a_stream_early_tells_the_callee_to_stop() -> None:
    client, callee = await connected(streaming(2, silence))
    items = client.stream(COUNT, COUNT.args_type(10), {}, None, "")
    assert await anext(items) == 0
    await items.aclose()
    [request] = callee.of_type(Request)
    await eventually(lambda: Cancel(request.id) in callee.of_type(Cancel))
