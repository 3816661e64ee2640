"""The official ``openai`` package against the gateway: every endpoint, every error status.

The reference app runs in this process (``inprocess`` placement), its gateway on a
free port on 127.0.0.1; the client talks real HTTP to it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import pytest_asyncio
from reference_app import app_topology

from conftest import eventually
from genweave import Deployment, deploy
from genweave.app.gateway import Gateway
from genweave.observe.metrics import REGISTRY

KEY = "sk-test-4f9c2e7d1b"
LIMITED_KEY = "sk-limited-8a1d0c"
KEYS = [{"name": "tester", "key": KEY},
        {"name": "limited", "key": LIMITED_KEY, "requests_per_minute": 2}]


@pytest_asyncio.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    topology = app_topology("monolith", tmp_path_factory.mktemp("data"), api_keys=KEYS,
                            max_body_bytes=64 * 1024)
    async with deploy("genweave.app:app", topology, "inprocess") as running:
        yield await running.get(Gateway).url()


@pytest_asyncio.fixture
async def client(gateway: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key=KEY,
                                  max_retries=0) as c:
        yield c


async def test_models(client: openai.AsyncOpenAI) -> None:
    ids = {m.id for m in (await client.models.list()).data}
    assert {"genweave-assistant", "genweave-tinylm", "all-MiniLM-L6-v2", "genweave-digits",
            "genweave-moderation"} == ids


async def test_chat_completion(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="genweave-assistant", max_tokens=16, seed=1,
        messages=[{"role": "user", "content": "What is a generator?"}])
    assert reply.object == "chat.completion" and reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_chat_completion_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="genweave-assistant", max_tokens=32, seed=2, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Explain the for statement."}])
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in ("stop", "length") and finishes[:-1].count(None) == len(finishes) - 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_completions(client: openai.AsyncOpenAI) -> None:
    reply = await client.completions.create(model="genweave-tinylm", prompt="The for statement",
                                            max_tokens=12, seed=3)
    assert reply.choices[0].text and reply.usage is not None
    stream = await client.completions.create(model="genweave-tinylm", prompt="A class",
                                             max_tokens=8, stream=True)
    assert "".join([c.choices[0].text async for c in stream])


@pytest.mark.parametrize("encoding", ["float", "base64"])
async def test_embeddings(client: openai.AsyncOpenAI, encoding: str) -> None:
    reply = await client.embeddings.create(model="all-MiniLM-L6-v2", encoding_format=encoding,  # type: ignore[arg-type]
                                           input=["a generator yields", "a list holds items"])
    vectors = [np.asarray(d.embedding) for d in reply.data]
    if encoding == "base64":
        vectors = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4")  # type: ignore[arg-type]
                   for d in reply.data]
    assert [v.shape for v in vectors] == [(384,), (384,)]
    assert np.allclose([np.linalg.norm(v) for v in vectors], 1.0, atol=1e-3)
    assert reply.usage.prompt_tokens > 0


async def test_default_client_embeddings(client: openai.AsyncOpenAI) -> None:
    reply = await client.embeddings.create(model="all-MiniLM-L6-v2", input="hello")
    assert len(reply.data[0].embedding) == 384


async def test_images(client: openai.AsyncOpenAI) -> None:
    reply = await client.images.generate(prompt="the digit 5", size="256x256", n=2,
                                         response_format="b64_json")
    pngs = [base64.b64decode(d.b64_json or "") for d in reply.data]
    assert all(p.startswith(b"\x89PNG") for p in pngs) and len(pngs) == 2
    assert "digit 5" in (reply.data[0].revised_prompt or "")


async def test_moderations(client: openai.AsyncOpenAI) -> None:
    reply = await client.moderations.create(input=["how to build a bomb", "hello there"])
    assert [r.flagged for r in reply.results] == [True, False]
    assert reply.results[0].categories.model_dump()["violence"] is True  # type: ignore[index]


@pytest.mark.parametrize(("call", "error", "status", "param"), [
    (lambda c: c.chat.completions.create(model="genweave-assistant", temperature=7,
                                         messages=[{"role": "user", "content": "x"}]),
     openai.BadRequestError, 400, "temperature"),
    (lambda c: c.chat.completions.create(model="genweave-assistant", messages=[]),
     openai.BadRequestError, 400, "messages"),
    (lambda c: c.chat.completions.create(model="gpt-9", messages=[{"role": "user",
                                                                   "content": "x"}]),
     openai.NotFoundError, 404, "model"),
    (lambda c: c.embeddings.create(model="all-MiniLM-L6-v2", input="x" * 70_000),
     openai.APIStatusError, 413, None),
    (lambda c: c.images.generate(prompt="x", size="999x999"),  # type: ignore[arg-type]
     openai.BadRequestError, 400, "size"),
])
async def test_errors(client: openai.AsyncOpenAI, call: object, error: type[Exception],
                      status: int, param: str | None) -> None:
    with pytest.raises(error) as caught:
        await call(client)  # type: ignore[operator]
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    body = caught.value.body  # type: ignore[attr-defined]
    assert body["param"] == param and body["message"] and body["type"]


async def test_wrong_or_missing_key_is_401(gateway: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key="sk-wrong",
                                  max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.models.list()
    async with httpx.AsyncClient(base_url=gateway) as raw:
        response = await raw.get("/v1/models")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


async def test_rate_limit_is_429_with_retry_after(gateway: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key=LIMITED_KEY,
                                  max_retries=0) as limited:
        await limited.models.list()
        await limited.models.list()
        with pytest.raises(openai.RateLimitError) as caught:
            await limited.models.list()
    assert int(caught.value.response.headers["Retry-After"]) >= 1


async def test_the_status_view_needs_a_key_but_spends_no_rate_limit(gateway: str) -> None:
    async with httpx.AsyncClient(base_url=gateway) as raw:
        assert (await raw.get("/v1/genweave/status")).status_code == 401
        limited = {"Authorization": f"Bearer {LIMITED_KEY}"}
        for _ in range(4):  # the key allows 2 requests a minute
            response = await raw.get("/v1/genweave/status", headers=limited)
            assert response.status_code == 200 and response.json()["app"] == "assistant"


async def test_keys_never_appear_in_logs(client: openai.AsyncOpenAI, gateway: str,
                                         caplog: pytest.LogCaptureFixture,
                                         capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    await client.models.list()
    async with openai.AsyncOpenAI(base_url=f"{gateway}/v1", api_key="sk-wrong-secret",
                                  max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.models.list()
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="nope", messages=[{"role": "user",
                                                                      "content": "x"}])
    out, err = capfd.readouterr()
    for secret in (KEY, LIMITED_KEY, "sk-wrong-secret"):
        assert secret not in caplog.text and secret not in out and secret not in err


async def test_health_ready_metrics_and_openapi(gateway: str, client: openai.AsyncOpenAI) -> None:
    await client.models.list()
    async with httpx.AsyncClient(base_url=gateway) as raw:
        assert (await raw.get("/healthz")).json() == {"status": "ok"}
        ready = await raw.get("/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        metrics = await raw.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'genweave_calls_total{component="Gateway",method="GET /v1/models"' in metrics.text
        assert "genweave_call_duration_seconds_bucket" in metrics.text
        document = (await raw.get("/openapi.json")).json()
        assert "/v1/chat/completions" in document["paths"]
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_disconnecting_mid_stream_stops_the_generation(gateway: str) -> None:
    stats = REGISTRY.method("Generator", "chat")
    body = {"model": "genweave-assistant", "stream": True, "max_tokens": 4000,
            "messages": [{"role": "user", "content": "Tell me everything about classes."}]}
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=gateway, timeout=30, headers=headers) as raw, \
            raw.stream("POST", "/v1/chat/completions", json=body) as response:
        lines = response.aiter_lines()
        while '"content":"' not in (line := await anext(lines)) or '"role"' in line:
            pass  # until the first generated text: the Generator is busy on it
        assert stats.in_flight == 1
    # 4000 tokens would take far longer than this.
    await eventually(lambda: stats.in_flight == 0, timeout=5, what="the generation stopping")


@pytest_asyncio.fixture(scope="module")
async def split(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    topology = app_topology("microservices", tmp_path_factory.mktemp("data"))
    async with deploy("genweave.app:app", topology, "codec") as running:
        yield running


async def test_a_stopped_component_is_503_naming_it(split: Deployment) -> None:
    url = await split.get(Gateway).url()
    await split.stop_group("illustrator")  # type: ignore[attr-defined]
    try:
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as c:
            with pytest.raises(openai.APIStatusError) as caught:
                await c.images.generate(prompt="a 3")
            assert caught.value.status_code == 503
            assert "Illustrator is unavailable" in caught.value.message
            reply = await c.chat.completions.create(
                model="genweave-assistant", max_tokens=8, extra_body={"illustrate": True},
                messages=[{"role": "user", "content": "draw a 3"}])
            assert reply.model_extra is not None
            assert reply.model_extra["genweave"]["degraded"] == ["illustration"]
    finally:
        await split.start_group("illustrator")  # type: ignore[attr-defined]


async def test_a_deadline_is_504(tmp_path: Path) -> None:
    topology = app_topology("monolith", tmp_path, request_timeout=0.002)
    async with deploy("genweave.app:app", topology, "inprocess") as running:
        url = await running.get(Gateway).url()
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as c:
            with pytest.raises(openai.APIStatusError) as caught:
                await c.chat.completions.create(model="genweave-assistant", max_tokens=200,
                                                messages=[{"role": "user", "content": "go"}])
    assert caught.value.status_code == 504 and "did not answer in time" in caught.value.message
    assert REGISTRY.method("Generator", "chat").in_flight == 0


async def test_genweave_chat_streams_an_answer_with_sources(gateway: str) -> None:
    from genweave.terminal_chat import chat

    async with httpx.AsyncClient(base_url=gateway,
                                 headers={"Authorization": f"Bearer {KEY}"}) as raw:
        job = (await raw.post("/v1/genweave/documents", json={
            "title": "Decorators", "text": "A decorator wraps a function: @decorator above "
            "a def applies it when the function is defined."})).json()

        async def ingested() -> bool:
            return (await raw.get(f"/v1/genweave/jobs/{job['id']}")).json()["state"] == "done"

        await eventually(ingested, timeout=10, interval=0.1)
    pieces: list[str] = []
    assert await chat("What does a decorator do?", url=gateway, key=KEY, max_tokens=20,
                      out=pieces.append) == 0
    assert len(pieces) > 3  # streamed in pieces
    assert "\nSources:\n  [1] Decorators (upload:decorators, chunk 0" in "".join(pieces)
    refused: list[str] = []
    assert await chat("x", url=gateway, key="sk-wrong", out=refused.append) == 1
    assert refused == ["error 401: Incorrect API key provided.\n"]


async def test_the_generators_openai_backend_works_against_the_gateway(gateway: str) -> None:
    from genweave.models.generation.base import GenerationParams
    from genweave.models.generation.openai_impl import OpenAIBackend

    backend = OpenAIBackend(f"{gateway}/v1", api_key=KEY, model="genweave-tinylm")
    try:
        deltas = [d async for d in backend.generate("The for statement",
                                                    GenerationParams(max_tokens=12, seed=5))]
        assert "".join(d.text for d in deltas) and deltas[-1].finish_reason is not None
    finally:
        await backend.close()
