"""``genweave chat`` against a real HTTP server on 127.0.0.1 that answers in the gateway's
shapes: what it sends, what it prints as the answer streams, and how it fails."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from conftest import eventually
from genweave.gateway.server import HttpServer
from genweave.terminal_chat import chat

CITATION = {"index": 1, "document": "pydoc:yield", "title": "The yield statement", "chunk": 2,
            "score": 0.8712, "snippet": "yield"}


def chunk(content: str | None = None, **extras: Any) -> str:
    delta = {} if content is None else {"content": content}
    body: dict[str, Any] = {"object": "chat.completion.chunk",
                            "choices": [{"index": 0, "delta": delta}]}
    if extras:
        body["genweave"] = extras
    return f"data: {json.dumps(body)}"


@dataclass
class Gateway:
    """Answers the next chat request with ``status`` and ``lines`` (SSE when 200).

    A line ``"HOLD"`` makes the stream wait there until ``release`` is set.
    """

    status: int = 200
    lines: list[str] = field(default_factory=list)
    body: bytes | None = None
    requests: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def asgi(self) -> Starlette:
        async def completions(request: Request) -> Response:
            self.requests.append((await request.json(), dict(request.headers)))
            if self.body is not None:
                return PlainTextResponse(self.body, status_code=self.status)
            if self.status != 200:
                return JSONResponse({"error": {"message": self.lines[0], "type": "x",
                                               "param": None, "code": None}},
                                    status_code=self.status)
            return StreamingResponse(self._events(), media_type="text/event-stream")

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])

    async def _events(self) -> AsyncIterator[str]:
        for line in self.lines:
            if line == "HOLD":
                await self.release.wait()
                continue
            yield f"{line}\n\n"


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    scripted = Gateway()
    server = HttpServer(scripted.asgi(), "127.0.0.1", 0)
    await server.start()
    try:
        yield scripted, server.url
    finally:
        scripted.release.set()
        await server.stop()


async def test_the_answer_is_printed_as_it_streams_then_its_sources(
    gateway: tuple[Gateway, str],
) -> None:
    scripted, url = gateway
    scripted.lines = [chunk("A generator "), "HOLD", chunk("yields values."),
                      chunk(None, citations=[CITATION]), "data: [DONE]"]
    printed: list[str] = []
    answering = asyncio.create_task(chat("What does yield do?", url=url, out=printed.append))
    await eventually(lambda: "A generator " in printed, what="the first piece printed")
    assert not answering.done()  # printed before the rest of the answer exists
    scripted.release.set()
    assert await answering == 0
    assert "".join(printed) == ("A generator yields values.\n"
                                "\nSources:\n"
                                "  [1] The yield statement (pydoc:yield, chunk 2, score 0.87)\n")


async def test_it_asks_for_a_stream_with_the_chosen_options_and_key(
    gateway: tuple[Gateway, str],
) -> None:
    scripted, url = gateway
    scripted.lines = [chunk("ok"), "data: [DONE]"]
    assert await chat("hi", url=url, key="sk-secret", model="my-model", retrieval=False,
                      max_tokens=12, out=lambda text: None) == 0
    [(body, headers)] = scripted.requests
    assert body == {"model": "my-model", "stream": True, "max_tokens": 12, "retrieval": False,
                    "messages": [{"role": "user", "content": "hi"}]}
    assert headers["authorization"] == "Bearer sk-secret"


async def test_without_a_key_no_authorization_is_sent(gateway: tuple[Gateway, str]) -> None:
    scripted, url = gateway
    scripted.lines = ["data: [DONE]"]
    assert await chat("hi", url=url, out=lambda text: None) == 0
    [(body, headers)] = scripted.requests
    assert "authorization" not in headers
    assert (body["model"], body["retrieval"], body["max_tokens"]) == (
        "genweave-assistant", True, 200)


async def test_skipped_stages_are_listed_once_each_in_order(
    gateway: tuple[Gateway, str],
) -> None:
    scripted, url = gateway
    scripted.lines = [chunk(None, degraded=["retrieval"]), chunk("Partly."),
                      chunk(None, degraded=["retrieval", "illustration"]), "data: [DONE]"]
    printed: list[str] = []
    assert await chat("q", url=url, out=printed.append) == 0
    assert "".join(printed) == ("Partly.\n"
                                "\n(degraded: answered without illustration, retrieval)\n")


async def test_comments_events_and_empty_deltas_print_nothing(
    gateway: tuple[Gateway, str],
) -> None:
    scripted, url = gateway
    scripted.lines = [": keep-alive", "event: ping", chunk(None), chunk("x"),
                      'data: {"choices": []}', "data: [DONE]"]
    printed: list[str] = []
    assert await chat("q", url=url, out=printed.append) == 0
    assert "".join(printed) == "x\n"


async def test_a_refused_request_prints_the_status_and_the_gateways_message(
    gateway: tuple[Gateway, str],
) -> None:
    scripted, url = gateway
    scripted.status, scripted.lines = 503, ["Moderator is unavailable: no ready replica"]
    printed: list[str] = []
    assert await chat("q", url=url, out=printed.append) == 1
    assert printed == ["error 503: Moderator is unavailable: no ready replica\n"]


async def test_an_error_in_the_middle_of_the_answer_ends_it(
    gateway: tuple[Gateway, str],
) -> None:
    scripted, url = gateway
    failure = {"error": {"message": "Generator did not answer in time", "type": "timeout_error",
                         "param": None, "code": "timeout"}}
    scripted.lines = [chunk("Half an "), f"data: {json.dumps(failure)}", chunk("never shown"),
                      "data: [DONE]"]
    printed: list[str] = []
    assert await chat("q", url=url, out=printed.append) == 1
    assert "".join(printed) == "Half an \nerror: Generator did not answer in time\n"


async def test_no_gateway_at_the_url_says_how_to_start_one() -> None:
    with socket.socket() as placeholder:  # a port nobody listens on once it is closed
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ConnectionError) as caught:
        await chat("q", url=url, out=lambda text: None)
    assert str(caught.value) == (f"no gateway at {url}; start the app with 'genweave run' "
                                 "or pass --url")


@pytest.mark.parametrize(("status", "body"), [
    (502, b"Bad Gateway"),
    (404, b'{"detail": "Not Found"}'),
])
async def test_an_answer_from_something_else_than_the_gateway_prints_its_status(
    gateway: tuple[Gateway, str], status: int, body: bytes,
) -> None:
    scripted, url = gateway
    scripted.status, scripted.body = status, body
    printed: list[str] = []
    assert await chat("q", url=url, out=printed.append) == 1
    assert printed and printed[0].startswith(f"error {status}")
