"""The OpenAI-compatible backend against a real server on 127.0.0.1.

The server is a small Starlette app, run by uvicorn in its own thread and
event loop, that answers ``/v1/completions`` and ``/v1/chat/completions``
(streamed and not) with the real built-in backend: real HTTP, real SSE, real
model. Special model names make it fail in the ways servers fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from generation_helpers import collect

from conftest import eventually
from genweave.models.generation import (
    AuthenticationFailed,
    BackendSettings,
    GenerationParams,
    InvalidRequest,
    ModelNotFound,
    RemoteError,
    RemoteTimeout,
    RemoteUnavailable,
    TextDelta,
    load_backend,
)
from genweave.models.generation.builtin_impl import BuiltinBackend
from genweave.models.generation.openai_impl import OpenAIBackend

uvicorn = pytest.importorskip("uvicorn")
starlette = pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

API_KEY = "test-key"
MODEL = "tinylm"
BROKEN, SLOW, CRASHING = "broken", "slow", "crashing"
"""Model names that fail: HTTP 500, an answer that takes too long, an error mid-stream."""
SLOW_SECONDS = 1.0
MAX_TOKENS_LIMIT = 1000
STARTUP_POLL = 0.01
STARTUP_TIMEOUT = 30.0


# --- the test server ------------------------------------------------------------------

def error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


def sse(payload: object) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def parse_params(body: dict[str, Any]) -> GenerationParams:
    stop = body.get("stop") or []
    return GenerationParams(
        max_tokens=body.get("max_tokens", 16), temperature=body.get("temperature", 1.0),
        top_p=body.get("top_p", 1.0), seed=body.get("seed"),
        stop=[stop] if isinstance(stop, str) else list(stop),
    )


async def complete(request: Request) -> Response:
    return await answer(request, chat=False)


async def chat_complete(request: Request) -> Response:
    return await answer(request, chat=True)


async def list_models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model"}]})


async def answer(request: Request, *, chat: bool) -> Response:
    if request.headers.get("authorization") != f"Bearer {API_KEY}":
        return error(401, "Incorrect API key provided.", "invalid_request_error",
                     "invalid_api_key")
    body = await request.json()
    model = body.get("model")
    if model == BROKEN:
        return error(500, "The server had an error while processing your request.",
                     "server_error")
    if model == SLOW:
        await asyncio.sleep(SLOW_SECONDS)
    elif model not in (MODEL, CRASHING):
        return error(404, f"The model `{model}` does not exist.", "invalid_request_error",
                     "model_not_found")
    if body.get("max_tokens", 0) > MAX_TOKENS_LIMIT:
        return error(400, f"max_tokens must be at most {MAX_TOKENS_LIMIT}.",
                     "invalid_request_error")
    backend: BuiltinBackend = request.app.state.backend
    params = parse_params(body)
    if chat:
        messages = [SimpleNamespace(**m) for m in body["messages"]]
        stream = backend.chat(messages, params)
    else:
        stream = backend.generate(body["prompt"], params)
    if not body.get("stream"):
        return JSONResponse(await whole(stream, chat=chat))
    usage = (body.get("stream_options") or {}).get("include_usage", False)
    return StreamingResponse(events(stream, chat=chat, usage=usage, crash=model == CRASHING),
                             media_type="text/event-stream")


def choice(delta: TextDelta, *, chat: bool, whole: bool = False) -> dict[str, Any]:
    if not chat:
        return {"index": 0, "text": delta.text, "finish_reason": delta.finish_reason}
    key = "message" if whole else "delta"
    return {"index": 0, key: {"role": "assistant", "content": delta.text},
            "finish_reason": delta.finish_reason}


def envelope(chat: bool, **fields: Any) -> dict[str, Any]:
    kind = "chat.completion" if chat else "text_completion"
    return {"id": "cmpl-1", "object": kind, "created": int(time.time()), "model": MODEL,
            **fields}


async def whole(stream: AsyncIterator[TextDelta], *, chat: bool) -> dict[str, Any]:
    parts, last = [], None
    async for delta in stream:
        parts.append(delta.text)
        last = delta
    assert last is not None and last.usage is not None
    merged = TextDelta("".join(parts), last.finish_reason)
    usage = {"prompt_tokens": last.usage.prompt_tokens,
             "completion_tokens": last.usage.completion_tokens,
             "total_tokens": last.usage.total_tokens}
    return envelope(chat, choices=[choice(merged, chat=chat, whole=True)], usage=usage)


async def events(
    stream: AsyncIterator[TextDelta], *, chat: bool, usage: bool, crash: bool
) -> AsyncIterator[str]:
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        async for delta in stream:
            yield sse(envelope(chat, choices=[choice(delta, chat=chat)]))
            if crash:
                yield sse({"error": {"message": "The model crashed.", "type": "server_error",
                                     "code": 500}})
                return
            if delta.usage is not None and usage:
                counts = {"prompt_tokens": delta.usage.prompt_tokens,
                          "completion_tokens": delta.usage.completion_tokens}
                yield sse(envelope(chat, choices=[], usage=counts))
    yield "data: [DONE]\n\n"


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.backend = BuiltinBackend.load(max_batch_size=8)
    yield
    await app.state.backend.close()


def make_app() -> Starlette:
    return Starlette(lifespan=lifespan, routes=[
        Route("/v1/completions", complete, methods=["POST"]),
        Route("/v1/chat/completions", chat_complete, methods=["POST"]),
        Route("/v1/models", list_models),
    ])


@pytest.fixture(scope="module")
def server() -> Iterator[SimpleNamespace]:
    """The app on a free port of 127.0.0.1, served from its own thread and event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = make_app()
    config = uvicorn.Config(app, log_level="error", lifespan="on", loop="asyncio",
                            timeout_graceful_shutdown=1)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not uv.started:  # a sync fixture: polled by hand, with a deadline
        assert thread.is_alive(), "the test server failed to start"
        assert time.monotonic() < deadline, f"the test server did not start in {STARTUP_TIMEOUT}s"
        time.sleep(STARTUP_POLL)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}/v1", app=app)
    uv.should_exit = True
    thread.join()
    sock.close()


@pytest.fixture
async def client(server: SimpleNamespace) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend(server.url, api_key=API_KEY, model=MODEL)
    yield backend
    await backend.close()


@pytest.fixture(scope="module")
async def local() -> AsyncIterator[BuiltinBackend]:
    backend = BuiltinBackend.load()
    yield backend
    await backend.close()


def params(seed: int = 0, max_tokens: int = 30) -> GenerationParams:
    return GenerationParams(max_tokens=max_tokens, temperature=0.9, seed=seed)


def same(remote: tuple[str, TextDelta], local: tuple[str, TextDelta]) -> bool:
    """The same text, finish reason and usage (the pieces may be cut differently)."""
    (text, last), (expected, expected_last) = remote, local
    return text == expected and (last.finish_reason, last.usage) == (
        expected_last.finish_reason, expected_last.usage)


# --- the tests ------------------------------------------------------------------------

async def test_completions_stream_what_the_model_generates(
    client: OpenAIBackend, local: BuiltinBackend
) -> None:
    remote = await collect(client.generate("The for statement", params(1)))
    assert same(remote, await collect(local.generate("The for statement", params(1))))


async def test_chat_streams_through_chat_completions(
    client: OpenAIBackend, local: BuiltinBackend
) -> None:
    messages = [SimpleNamespace(role="user", content="What is a tuple?")]
    remote = await collect(client.chat(messages, params(2)))
    assert same(remote, await collect(local.chat(messages, params(2))))


async def test_without_usage_in_the_stream_completion_pieces_are_counted(
    server: SimpleNamespace,
) -> None:
    async with OpenAIBackend(server.url, API_KEY, MODEL, include_usage=False) as backend:
        _, last = await collect(backend.generate("The", params(3)))
    assert last.usage is not None and last.usage.prompt_tokens == 0
    assert last.usage.completion_tokens > 0


async def test_model_defaults_to_the_first_the_server_lists(server: SimpleNamespace) -> None:
    async with OpenAIBackend(server.url + "/", api_key=API_KEY) as backend:
        assert await backend.models() == [MODEL]
        _, last = await collect(backend.generate("The", params(max_tokens=3)))
        assert backend.model == MODEL
    assert last.finish_reason in ("stop", "length")


async def test_count_tokens_asks_the_server(client: OpenAIBackend) -> None:
    assert await client.count_tokens("hé") == 3


async def test_closing_the_stream_stops_the_server_generating(
    client: OpenAIBackend, server: SimpleNamespace
) -> None:
    engine = server.app.state.backend.engine
    cancelled = engine.stats.cancelled
    stream = client.generate("The", GenerationParams(max_tokens=MAX_TOKENS_LIMIT, temperature=0))
    await anext(stream)
    await anext(stream)
    assert engine.stats.running == 1
    await stream.aclose()
    await eventually(lambda: engine.stats.cancelled == cancelled + 1)
    await eventually(lambda: engine.stats.running == 0)


@pytest.mark.parametrize(
    ("api_key", "model", "error", "status", "text"),
    [
        ("wrong", MODEL, AuthenticationFailed, 401, "Incorrect API key provided"),
        (API_KEY, "gpt-17", ModelNotFound, 404, "The model `gpt-17` does not exist"),
        (API_KEY, BROKEN, RemoteUnavailable, 500, "The server had an error"),
    ],
)
async def test_error_statuses_keep_the_server_message(
    server: SimpleNamespace, api_key: str, model: str, error: type[RemoteError], status: int,
    text: str,
) -> None:
    async with OpenAIBackend(server.url, api_key, model) as backend:
        with pytest.raises(error) as raised:
            await collect(backend.generate("The", params()))
    assert raised.value.status == status
    assert text in str(raised.value)
    assert f"HTTP {status}" in str(raised.value)
    assert raised.value.url == f"{server.url}/completions"


async def test_a_refused_parameter_is_an_invalid_request(client: OpenAIBackend) -> None:
    with pytest.raises(InvalidRequest, match=f"at most {MAX_TOKENS_LIMIT}") as raised:
        await collect(client.generate("The", params(max_tokens=MAX_TOKENS_LIMIT + 1)))
    assert isinstance(raised.value, ValueError)
    assert raised.value.type == "invalid_request_error"


async def test_an_error_in_the_middle_of_a_stream_is_raised(server: SimpleNamespace) -> None:
    async with OpenAIBackend(server.url, API_KEY, CRASHING) as backend:
        stream = backend.generate("The", params())
        first = await anext(stream)
        with pytest.raises(RemoteUnavailable, match="The model crashed") as raised:
            await anext(stream)
    assert first.text and raised.value.code == "500"


async def test_a_server_too_slow_to_answer_times_out(server: SimpleNamespace) -> None:
    async with OpenAIBackend(server.url, API_KEY, SLOW, timeout=SLOW_SECONDS / 10) as backend:
        with pytest.raises(RemoteTimeout, match="raise the timeout setting") as raised:
            await collect(backend.generate("The", params()))
    assert isinstance(raised.value, TimeoutError)


async def test_a_server_that_is_not_running_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with OpenAIBackend(f"http://127.0.0.1:{port}", api_key="") as backend:
        assert backend.base_url.endswith("/v1")
        with pytest.raises(RemoteUnavailable, match="check that it is running"):
            await collect(backend.generate("The", params()))


def test_remote_errors_survive_pickling() -> None:
    error = ModelNotFound("no such model", status=404, url="http://x/v1/completions",
                          type="invalid_request_error", code="model_not_found")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ModelNotFound
    assert (copy.status, copy.code, str(copy)) == (404, "model_not_found", str(error))


async def test_load_backend_builds_an_openai_backend() -> None:
    backend = load_backend(BackendSettings(backend="openai", base_url="http://127.0.0.1:9/v1",
                                           model="m", api_key="k", timeout=3.0))
    assert isinstance(backend, OpenAIBackend)
    assert (backend.base_url, backend.model, backend.timeout) == ("http://127.0.0.1:9/v1",
                                                                  "m", 3.0)
    await backend.close()
    with pytest.raises(ValueError, match="set 'base_url'"):
        load_backend(BackendSettings(backend="openai"))


async def test_the_official_openai_client_reads_the_test_server(
    server: SimpleNamespace, client: OpenAIBackend
) -> None:
    """Keeps the test server honest: what it serves is what OpenAI's own client parses."""
    openai = pytest.importorskip("openai")
    official = openai.AsyncOpenAI(base_url=server.url, api_key=API_KEY)
    chunks = await official.completions.create(
        model=MODEL, prompt="The for statement", max_tokens=30, temperature=0.9, top_p=0.95, seed=1,
        stream=True, stream_options={"include_usage": True},
    )
    text = "".join([c.choices[0].text async for c in chunks if c.choices])
    await official.close()
    ours, _ = await collect(client.generate("The for statement", params(1)))
    assert text == ours
