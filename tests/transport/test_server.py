"""The callee's connection: requests go to the dispatcher, answers and cancellations come back.

A scripted dispatcher stands in for the runtime, so these tests see only what
the transport does: hand over each request as sent, carry replies, stream items
under flow control and failures back, and cancel work whose caller gave up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from conftest import eventually
from genweave import ComponentError, MessageTooLarge, component
from genweave.component import spec_of
from genweave.transport.client import ClientConnection
from genweave.transport.compat import interface_info
from genweave.transport.memory import connect_pair
from genweave.transport.messages import PROTOCOL_VERSION, STREAM_WINDOW, Request, Welcome
from genweave.transport.server import RequestDispatcher, ServerConnection

LIMIT = 4096


@component(name="Echo")
class Echo:
    async def echo(self, text: str) -> str:
        return text

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


ECHO = spec_of(Echo).methods["echo"]
COUNT = spec_of(Echo).methods["count"]
Answer = Callable[[Request, ServerConnection], "asyncio.Task[Any] | None"]


class Scripted(RequestDispatcher):
    """Answers each request as the test says, and keeps what it was handed."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(Welcome(PROTOCOL_VERSION, "app", "echo/0",
                                 {"Echo": interface_info(spec_of(Echo))}), LIMIT)
        self.answer = answer
        self.requests: list[Request] = []
        self.tasks: list[asyncio.Task[Any]] = []

    def dispatch(self, request: Request, connection: ServerConnection) -> asyncio.Task[Any] | None:
        self.requests.append(request)
        task = self.answer(request, connection)
        if task is not None:
            self.tasks.append(task)
        return task


async def connected(answer: Answer) -> tuple[ClientConnection, Scripted]:
    dispatcher = Scripted(answer)
    client = ClientConnection("app", "tester", LIMIT)
    connect_pair(client, ServerConnection(dispatcher))
    await client.handshake()
    return client, dispatcher


def reply_with(value: Any) -> Answer:
    def answer(request: Request, connection: ServerConnection) -> None:
        connection.reply(request, value)

    return answer


def run(work: Callable[[Request, ServerConnection], Any]) -> Answer:
    """An answer that runs ``work`` as the call's task, as a runtime would."""
    def answer(request: Request, connection: ServerConnection) -> asyncio.Task[Any]:
        return asyncio.get_running_loop().create_task(work(request, connection))

    return answer


async def test_a_request_reaches_the_dispatcher_as_sent_and_its_reply_the_caller() -> None:
    client, dispatcher = await connected(reply_with("pong"))
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert await client.call(ECHO, ECHO.args_type("ping"), {"user": "ada"}, 2.0, trace) == "pong"
    [request] = dispatcher.requests
    assert (request.component, request.method, request.caller) == ("Echo", "echo", "tester")
    assert (request.meta, request.timeout, request.traceparent) == ({"user": "ada"}, 2.0, trace)
    assert ECHO.args_decoder.decode(request.args) == ECHO.args_type("ping")


async def test_a_refusal_sent_at_once_reaches_the_caller_as_its_error() -> None:
    def refuse(request: Request, connection: ServerConnection) -> None:
        connection.fail(request, KeyError("missing"))

    client, _ = await connected(refuse)
    with pytest.raises(KeyError) as caught:
        await client.call(ECHO, ECHO.args_type("x"), {}, None, "")
    error = caught.value
    assert isinstance(error, ComponentError)
    assert (error.component, error.method, error.where) == ("Echo", "echo", "echo/0")
    assert error.remote_type == "builtins.KeyError"


async def test_a_result_above_the_limit_fails_the_call_and_not_the_connection() -> None:
    async def too_large_once(request: Request, connection: ServerConnection) -> None:
        try:
            connection.reply(request, "x" * (2 * LIMIT if len(dispatcher.requests) == 1 else 1))
        except MessageTooLarge as exc:
            connection.fail(request, exc)

    client, dispatcher = await connected(run(too_large_once))
    with pytest.raises(MessageTooLarge, match=rf"Echo.echo: result encodes to \d+ bytes, "
                                              rf"above the {LIMIT}-byte message limit"):
        await client.call(ECHO, ECHO.args_type("x"), {}, None, "")
    assert await client.call(ECHO, ECHO.args_type("x"), {}, None, "") == "x"


async def test_the_caller_cancelling_cancels_the_task_serving_it() -> None:
    async def forever(request: Request, connection: ServerConnection) -> None:
        await asyncio.Event().wait()

    client, dispatcher = await connected(run(forever))
    call = asyncio.ensure_future(client.call(ECHO, ECHO.args_type("x"), {}, None, ""))
    await eventually(lambda: dispatcher.tasks)
    call.cancel()
    await eventually(lambda: dispatcher.tasks[0].cancelled())


async def test_a_lost_connection_cancels_every_task_it_started() -> None:
    async def forever(request: Request, connection: ServerConnection) -> None:
        await asyncio.Event().wait()

    client, dispatcher = await connected(run(forever))
    calls = [asyncio.ensure_future(client.call(ECHO, ECHO.args_type("x"), {}, None, ""))
             for _ in range(3)]
    await eventually(lambda: len(dispatcher.tasks) == 3)
    client.close()
    await eventually(lambda: all(t.cancelled() for t in dispatcher.tasks))
    await asyncio.gather(*calls, return_exceptions=True)


async def test_a_stream_runs_no_further_ahead_of_its_caller_than_the_window() -> None:
    produced = 0

    async def numbers() -> AsyncIterator[int]:
        nonlocal produced
        for i in range(1000):
            produced += 1
            yield i

    def stream(request: Request, connection: ServerConnection) -> Any:
        return connection.stream(request, numbers())

    client, _ = await connected(run(stream))
    items = client.stream(COUNT, COUNT.args_type(1000), {}, None, "")
    assert await anext(items) == 0
    await eventually(lambda: produced > STREAM_WINDOW)
    for _ in range(20):
        await asyncio.sleep(0)  # loop turns, in which an unbounded producer would run on
    assert produced == STREAM_WINDOW + 1  # the window, and the one waiting for credit
    assert [i async for i in items] == list(range(1, 1000))
