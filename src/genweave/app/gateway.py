"""The reference app's gateway: OpenAI's endpoints mapped onto its components.

Chat, completions, embeddings, images and moderations in OpenAI's shapes (the
streams shaped by :mod:`genweave.app.openai_stream`), plus document ingestion;
health, readiness, metrics, the live status view (:mod:`genweave.gateway.ops`)
and the console (:mod:`genweave.gateway.console`, with the app's own panels
from :mod:`genweave.app.console`) come from the framework.

A component like any other: under ``monolith`` it shares the process with
everything it calls (direct calls), under ``microservices`` each endpoint is
one hop away.  Settings come from ``[components.Gateway]``::

    [components.Gateway]
    port = 8000
    api_keys = [{ name = "alice", key_env = "ALICE_KEY", requests_per_minute = 60 }]

    [components.Gateway.limits]        # slow and hostile clients: genweave.gateway.limits
    trusted_proxies = ["10.0.0.0/8"]
"""

from __future__ import annotations

import asyncio
import base64
import time
from http import HTTPStatus
from typing import Annotated, Any, Final

import msgspec
import numpy as np

from genweave.app.assistant import Assistant
from genweave.app.console import PANELS
from genweave.app.embedder import Embedder
from genweave.app.generator import Generator
from genweave.app.illustrator import Illustrator
from genweave.app.ingestor import Ingestor
from genweave.app.moderator import Moderator
from genweave.app.openai_stream import chat_chunks, chat_completion, completion_chunks, openai_usage
from genweave.app.types import ChatMessage, ChatRequest, DocumentIn, JobStatus, MediaType
from genweave.component import Ref, component
from genweave.gateway import openai as oa
from genweave.gateway.api import Api, ApiCall, sse
from genweave.gateway.auth import ApiKey, KeyRing
from genweave.gateway.console import Console
from genweave.gateway.errors import APIError
from genweave.gateway.limits import HttpLimits
from genweave.gateway.ops import Operations
from genweave.gateway.server import HttpServer
from genweave.models.generation.base import GenerationParams
from genweave.runtime.introspect import Runtime

__all__ = ["Gateway", "GatewaySettings"]

CHAT_MODEL: Final = "genweave-assistant"
MODERATION_MODEL: Final = "genweave-moderation"
FAMILIES: Final = ("chat", "completions", "embeddings", "images", "moderations")
MODEL_ID_TTL: Final = 30.0
"""Seconds a component's model id is reused (a rollout may change it)."""


class GatewaySettings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[ApiKey] = []
    max_body_bytes: int = 4 * 1024 * 1024
    request_timeout: float = 120.0
    max_concurrent_requests: int = 1024
    """API requests served at once per gateway replica, each once its body is read;
    beyond it, 503 with Retry-After."""
    console: bool = True
    limits: HttpLimits = msgspec.field(default_factory=HttpLimits)
    """What slow and hostile clients may hold: time limits on reading a request and on
    a stalled answer, bounds on connections and requests, per client and in all."""


class DocumentRequest(msgspec.Struct, kw_only=True):
    title: Annotated[str, msgspec.Meta(max_length=500)]
    text: Annotated[str, msgspec.Meta(pattern=r"\S")]
    """The document itself; it must contain something besides whitespace."""
    media_type: MediaType = "text/plain"


@component(config=GatewaySettings)
class Gateway:
    """Serves the OpenAI-compatible API, with the framework's health, metrics and console."""

    config: GatewaySettings
    runtime: Runtime
    assistant: Ref[Assistant]
    generator: Ref[Generator]
    embedder: Ref[Embedder]
    illustrator: Ref[Illustrator]
    moderator: Ref[Moderator]
    ingestor: Ref[Ingestor]

    async def on_start(self) -> None:
        self._model_cache: dict[str, tuple[str, float]] = {}
        api = Api("genweave reference app", keys=KeyRing(self.config.api_keys),
                  max_body_bytes=self.config.max_body_bytes, timeout=self.config.request_timeout,
                  max_concurrent=self.config.max_concurrent_requests, limits=self.config.limits)
        self._routes(api)
        self._server = HttpServer(api.asgi(), self.config.host, self.config.port,
                                  limits=self.config.limits)
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
        Operations(self.runtime).add_to(api)
        if self.config.console:
            Console(PANELS).add_to(api)

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
            return await sse(chat_chunks(events, completion_id, created, model, include_usage),
                             call.timeout)
        return await chat_completion(events, completion_id, created, model)

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
            return await sse(completion_chunks(self.generator.generate(prompts[0], params),
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
                             usage=openai_usage(prompt_tokens, completion_tokens))

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


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def _encode_vector(row: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode()
    return [float(x) for x in row]


