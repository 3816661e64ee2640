"""The reference app's gateway: OpenAI's endpoints mapped onto its components.

A component like any other: under ``monolith`` it shares the process with
everything it calls (direct calls), under ``microservices`` each endpoint is
one hop away.  Settings come from ``[components.Gateway]``::

    [components.Gateway]
    port = 8000
    api_keys = [{ name = "alice", key_env = "ALICE_KEY", requests_per_minute = 60 }]
"""

from __future__ import annotations

import asyncio
import base64
import collections
import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
import numpy as np
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from genweave.app.assistant import Assistant
from genweave.app.embedder import Embedder
from genweave.app.generator import Generator
from genweave.app.illustrator import Illustrator
from genweave.app.ingestor import Ingestor
from genweave.app.moderator import Moderator
from genweave.app.types import (
    ChatEvent,
    ChatMessage,
    ChatRequest,
    DocumentIn,
    JobStatus,
    MediaType,
)
from genweave.component import Ref, component
from genweave.gateway import openai as oa
from genweave.gateway.api import Api, ApiCall, sse
from genweave.gateway.auth import ApiKey, KeyRing
from genweave.gateway.errors import APIError
from genweave.gateway.metrics import CONTENT_TYPE, render
from genweave.gateway.server import HttpServer
from genweave.models.generation.base import GenerationParams
from genweave.observe.summary import MethodSummary, Totals, summarize, totals
from genweave.runtime.introspect import Runtime

__all__ = ["Gateway", "GatewaySettings"]

CONSOLE_DIR: Final = Path(__file__).resolve().parent.parent / "gateway" / "console"
CHAT_MODEL: Final = "genweave-assistant"
MODERATION_MODEL: Final = "genweave-moderation"
FAMILIES: Final = ("chat", "completions", "embeddings", "images", "moderations")
STATUS_WINDOW: Final = 1.0
"""Seconds over which the live view's request rates and latencies are measured."""
STATUS_SAMPLES: Final = 64
MODEL_ID_TTL: Final = 30.0
"""Seconds a component's model id is reused (a rollout may change it)."""


class GatewaySettings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[ApiKey] = []
    max_body_bytes: int = 4 * 1024 * 1024
    request_timeout: float = 120.0
    max_concurrent_requests: int = 1024
    """API requests served at once per gateway replica; beyond it, 503 with Retry-After."""
    console: bool = True


class StatusReplica(msgspec.Struct, frozen=True):
    name: str
    state: str
    pid: int | None
    restarts: int
    version: str = "1"
    """The version it runs, or its experiment variant's name."""


class StatusGroup(msgspec.Struct, frozen=True):
    name: str
    components: list[str]
    replicas: list[StatusReplica]


class DeploymentView(msgspec.Struct, frozen=True):
    """The console's live view: groups, replicas and per-method traffic."""

    app: str
    topology: str
    ready: bool
    groups: list[StatusGroup]
    methods: list[MethodSummary]


class DocumentRequest(msgspec.Struct, kw_only=True):
    title: Annotated[str, msgspec.Meta(max_length=500)]
    text: Annotated[str, msgspec.Meta(pattern=r"\S")]
    """The document itself; it must contain something besides whitespace."""
    media_type: MediaType = "text/plain"


@component(config=GatewaySettings)
class Gateway:
    """Serves the OpenAI-compatible API, health, metrics and the console."""

    config: GatewaySettings
    runtime: Runtime
    assistant: Ref[Assistant]
    generator: Ref[Generator]
    embedder: Ref[Embedder]
    illustrator: Ref[Illustrator]
    moderator: Ref[Moderator]
    ingestor: Ref[Ingestor]

    async def on_start(self) -> None:
        self._samples: collections.deque[Totals] = collections.deque(maxlen=STATUS_SAMPLES)
        self._model_cache: dict[str, tuple[str, float]] = {}
        api = Api("genweave reference app", keys=KeyRing(self.config.api_keys),
                  max_body_bytes=self.config.max_body_bytes, timeout=self.config.request_timeout,
                  max_concurrent=self.config.max_concurrent_requests)
        self._routes(api)
        self._server = HttpServer(api.asgi(), self.config.host, self.config.port)
        await self._server.start()

    async def on_stop(self) -> None:
        await self._server.stop()

    async def url(self) -> str:
        """Where this replica listens (useful when the port was 0)."""
        return self._server.url

    # -- routes ----------------------------------------------------------------

    def _routes(self, api: Api) -> None:
        api.get("/v1/models", response=oa.ModelList)(self._models)
        api.post("/v1/chat/completions", body=oa.ChatCompletionRequest,
                 response=oa.ChatCompletion, stream=oa.ChatCompletionChunk)(self._chat)
        api.post("/v1/completions", body=oa.CompletionRequest, response=oa.Completion,
                 stream=oa.Completion)(self._complete)
        api.post("/v1/embeddings", body=oa.EmbeddingRequest,
                 response=oa.EmbeddingResponse)(self._embeddings)
        api.post("/v1/images/generations", body=oa.ImageRequest,
                 response=oa.ImagesResponse)(self._images)
        api.post("/v1/moderations", body=oa.ModerationRequest,
                 response=oa.ModerationResponse)(self._moderations)
        api.post("/v1/genweave/documents", body=DocumentRequest, response=JobStatus)(
            self._ingest)
        api.get("/v1/genweave/jobs/{job_id}", response=JobStatus)(self._job)
        # It names processes and pids: keyed like the API, but polling spends no rate limit.
        api.get("/v1/genweave/status", response=DeploymentView, metered=False)(self._status)
        api.get("/healthz", auth=False)(self._healthz)
        api.get("/readyz", auth=False)(self._readyz)
        api.get("/metrics", auth=False)(self._metrics)
        if self.config.console:
            api.mount(Route("/", self._console, methods=["GET"]))
            api.mount(Route("/console/{name}", self._console_file, methods=["GET"]))

    async def _model_id(self, family: str) -> str:
        """The model id behind an endpoint family, asked of its component and cached.

        Only the component that serves the family is asked, so one unavailable
        component never fails the others' endpoints.
        """
        cached = self._model_cache.get(family)
        if cached is not None and time.monotonic() - cached[1] < MODEL_ID_TTL:
            return cached[0]
        ask = {"chat": None, "moderations": None, "completions": self.generator.model_id,
               "embeddings": self.embedder.model_id, "images": self.illustrator.model_id}[family]
        fixed = {"chat": CHAT_MODEL, "moderations": MODERATION_MODEL}
        model = fixed[family] if ask is None else await ask()
        self._model_cache[family] = (model, time.monotonic())
        return model

    async def _check_model(self, model: str | None, family: str) -> str:
        served = await self._model_id(family)
        if model is not None and model != served:
            raise APIError(HTTPStatus.NOT_FOUND, f"The model `{model}` does not exist or "
                           f"does not serve this endpoint; use {served}.", param="model",
                           code="model_not_found")
        return served

    async def _models(self, call: ApiCall, body: None) -> oa.ModelList:
        """Every model whose component answers; an unavailable one is left out."""
        created = int(time.time())
        ids = await asyncio.gather(*(self._model_id(f) for f in FAMILIES),
                                   return_exceptions=True)
        return oa.ModelList(data=[oa.Model(id=m, created=created)
                                  for m in ids if isinstance(m, str)])

    async def _chat(self, call: ApiCall, body: oa.ChatCompletionRequest) -> Any:
        model = await self._check_model(body.model, "chat")
        request = ChatRequest(
            [ChatMessage("system" if m.role == "developer" else m.role, m.content)
             for m in body.messages],
            max_tokens=body.max_completion_tokens or body.max_tokens or 200,
            temperature=body.temperature, top_p=body.top_p, seed=body.seed,
            stop=_stops(body.stop), retrieval=body.retrieval, illustrate=body.illustrate,
            user=body.user or call.key,
        )
        completion_id, created = f"chatcmpl-{call.id}", int(time.time())
        events = self.assistant.chat(request)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return await sse(_chat_chunks(events, completion_id, created, model, include_usage),
                             call.timeout)
        return await _chat_completion(events, completion_id, created, model)

    async def _complete(self, call: ApiCall, body: oa.CompletionRequest) -> Any:
        model = await self._check_model(body.model, "completions")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        params = GenerationParams(body.max_tokens, body.temperature, body.top_p, body.seed,
                                  _stops(body.stop))
        completion_id, created = f"cmpl-{call.id}", int(time.time())
        if body.stream:
            if len(prompts) > 1:
                raise APIError(HTTPStatus.BAD_REQUEST, "Streaming takes a single prompt.",
                               param="prompt")
            return await sse(_completion_chunks(self.generator.generate(prompts[0], params),
                                                completion_id, created, model), call.timeout)
        choices, prompt_tokens, completion_tokens = [], 0, 0
        for index, prompt in enumerate(prompts):
            text, finish, usage = [], "stop", None
            async for delta in self.generator.generate(prompt, params):
                text.append(delta.text)
                finish = delta.finish_reason or finish
                usage = delta.usage or usage
            if usage is not None:
                prompt_tokens += usage.prompt_tokens
                completion_tokens += usage.completion_tokens
            choices.append(oa.CompletionChoice(index=index, text="".join(text),
                                               finish_reason=finish))
        return oa.Completion(id=completion_id, created=created, model=model, choices=choices,
                             usage=_usage(prompt_tokens, completion_tokens))

    async def _embeddings(self, call: ApiCall, body: oa.EmbeddingRequest) -> oa.EmbeddingResponse:
        model = await self._check_model(body.model, "embeddings")
        texts = [body.input] if isinstance(body.input, str) else body.input
        if any(not t for t in texts):
            raise APIError(HTTPStatus.BAD_REQUEST, "Inputs must be non-empty strings.",
                           param="input")
        result = await self.embedder.embed(texts)
        vectors = np.asarray(result.vectors, dtype=np.float32)
        data = [oa.Embedding(index=i, embedding=_encode_vector(row, body.encoding_format))
                for i, row in enumerate(vectors)]
        return oa.EmbeddingResponse(data=data, model=model, usage=oa.EmbeddingUsage(
            prompt_tokens=result.tokens, total_tokens=result.tokens))

    async def _images(self, call: ApiCall, body: oa.ImageRequest) -> oa.ImagesResponse:
        await self._check_model(body.model, "images")
        size = int(body.size.split("x")[0])
        data = []
        for i in range(body.n):
            seed = None if body.seed is None else body.seed + i
            image = await self.illustrator.draw(body.prompt, size, seed)
            data.append(oa.ImageData(b64_json=base64.b64encode(image.png).decode(),
                                     revised_prompt=f"{body.prompt} [{image.detail}]"))
        return oa.ImagesResponse(created=int(time.time()), data=data)

    async def _moderations(self, call: ApiCall,
                           body: oa.ModerationRequest) -> oa.ModerationResponse:
        model = await self._check_model(body.model, "moderations")
        texts = [body.input] if isinstance(body.input, str) else body.input
        results = await self.moderator.check_many(texts)
        return oa.ModerationResponse(id=f"modr-{call.id}", model=model, results=[
            oa.ModerationOutcome(flagged=r.flagged, categories=r.categories,
                                 category_scores=r.category_scores) for r in results])

    async def _ingest(self, call: ApiCall, body: DocumentRequest) -> JobStatus:
        return await self.ingestor.submit(DocumentIn(
            body.title or "untitled", body.text, body.media_type,
            source=f"upload by {call.key}"))

    async def _job(self, call: ApiCall, body: None) -> JobStatus:
        return await self.ingestor.job(call.request.path_params["job_id"])

    async def _status(self, call: ApiCall, body: None) -> DeploymentView:
        status = await self.runtime.status()
        now = totals(await self.runtime.metrics(), time.monotonic())
        rows = summarize(now, self._window_start(now))
        self._samples.append(now)
        groups = [StatusGroup(g.name, list(g.components), [
            StatusReplica(r.name, r.state, r.pid, r.restarts, r.variant or r.version)
            for r in status.replicas if r.group == g.name]) for g in self.runtime.topology.groups]
        return DeploymentView(status.app, status.topology, status.ready(), groups, rows)

    def _window_start(self, now: Totals) -> Totals | None:
        """The latest sample at least ``STATUS_WINDOW`` old, so that rates do not depend
        on how many consoles (or ``genweave status``) poll, or how often."""
        earlier = [s for s in self._samples if now.at - s.at >= STATUS_WINDOW]
        if earlier:
            return earlier[-1]
        return self._samples[0] if self._samples else None

    async def _healthz(self, call: ApiCall, body: None) -> Response:
        return JSONResponse({"status": "ok"})

    async def _readyz(self, call: ApiCall, body: None) -> Response:
        status = await self.runtime.status()
        waiting = sorted({r.group for r in status.replicas} - {
            r.group for r in status.replicas if r.state == "ready"})
        code = HTTPStatus.OK if status.ready() else HTTPStatus.SERVICE_UNAVAILABLE
        return JSONResponse({"ready": status.ready(), "waiting_for": waiting}, status_code=code)

    async def _metrics(self, call: ApiCall, body: None) -> Response:
        body_bytes = render(await self.runtime.status(), await self.runtime.metrics())
        return Response(body_bytes, media_type=CONTENT_TYPE)

    async def _console(self, request: Request) -> Response:
        return FileResponse(CONSOLE_DIR / "index.html")

    async def _console_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = (CONSOLE_DIR / name).resolve()
        if path.parent != CONSOLE_DIR or not path.is_file():
            return JSONResponse({"error": {"message": f"no console file {name}",
                                           "type": "not_found_error", "param": None,
                                           "code": None}}, status_code=404)
        return FileResponse(path)


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def _usage(prompt_tokens: int, completion_tokens: int) -> oa.Usage:
    return oa.Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens)


def _encode_vector(row: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode()
    return [float(x) for x in row]


def _extras(event: ChatEvent) -> dict[str, Any] | None:
    if event.type == "citations":
        return {"citations": msgspec.to_builtins(event.citations)}
    if event.type == "degraded":
        return {"degraded": event.degraded}
    if event.type == "blocked":
        return {"blocked": event.categories}
    if event.type == "image" and event.image is not None:
        return {"image": {"b64_json": base64.b64encode(event.image.png).decode(),
                          "detail": event.image.detail}}
    return None


async def _chat_chunks(events: AsyncIterator[ChatEvent], completion_id: str, created: int,
                       model: str, include_usage: bool) -> AsyncIterator[bytes]:
    encode = msgspec.json.encode

    def chunk(delta: oa.Delta, finish: str | None = None, **extra: Any) -> bytes:
        return encode(oa.ChatCompletionChunk(
            id=completion_id, created=created, model=model,
            choices=[oa.ChunkChoice(delta=delta, finish_reason=finish)], **extra))

    yield chunk(oa.Delta(role="assistant", content=""))
    async for event in events:
        if event.type == "delta":
            yield chunk(oa.Delta(content=event.text))
        elif event.type == "done":
            yield chunk(oa.Delta(), event.finish_reason or "stop",
                        genweave={"degraded": event.degraded} if event.degraded else None)
            if include_usage and event.usage is not None:
                yield encode(oa.ChatCompletionChunk(
                    id=completion_id, created=created, model=model, choices=[],
                    usage=_usage(event.usage.prompt_tokens, event.usage.completion_tokens)))
        else:
            yield chunk(oa.Delta(), genweave=_extras(event))


async def _chat_completion(events: AsyncIterator[ChatEvent], completion_id: str, created: int,
                           model: str) -> oa.ChatCompletion:
    text: list[str] = []
    extras: dict[str, Any] = {}
    finish, usage = "stop", _usage(0, 0)
    async for event in events:
        if event.type == "delta":
            text.append(event.text)
        elif event.type == "done":
            finish = event.finish_reason or "stop"
            if event.usage is not None:
                usage = _usage(event.usage.prompt_tokens, event.usage.completion_tokens)
            if event.degraded:
                extras["degraded"] = event.degraded
        else:
            extras.update(_extras(event) or {})
    return oa.ChatCompletion(
        id=completion_id, created=created, model=model, usage=usage,
        choices=[oa.ChatChoice(message=oa.ChoiceMessage(content="".join(text)),
                               finish_reason=finish)],
        genweave=extras or None)


async def _completion_chunks(deltas: AsyncIterator[Any], completion_id: str, created: int,
                             model: str) -> AsyncIterator[bytes]:
    async for delta in deltas:
        yield msgspec.json.encode(oa.Completion(
            id=completion_id, created=created, model=model,
            choices=[oa.CompletionChoice(index=0, text=delta.text,
                                         finish_reason=delta.finish_reason)]))
