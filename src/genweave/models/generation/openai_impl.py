"""Any OpenAI-compatible server: vLLM, TGI, Ollama, llama.cpp's server, hosted APIs.

Streams ``/completions`` and ``/chat/completions`` over server-sent events
with httpx. Closing the stream closes the HTTP response, which tells the
server to stop generating.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import msgspec

from .base import FinishReason, GenerationParams, TextBackend, TextDelta, TokenUsage
from .chat import Message
from .config import DEFAULT_TIMEOUT
from .errors import RemoteError, RemoteTimeout, RemoteUnavailable, remote_error_class
from .importer import require
from .openai_wire import CompletionChunk, ErrorBody, ModelList, error_from_body, finish_reason
from .sse import DONE, iter_events

if TYPE_CHECKING:
    import httpx

    from .config import BackendSettings

__all__ = ["OpenAIBackend"]

API_KEY_VARIABLE: Final = "OPENAI_API_KEY"
API_PREFIX: Final = "/v1"
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
COMPLETIONS: Final = "completions"
CHAT_COMPLETIONS: Final = "chat/completions"
MODELS: Final = "models"
ERROR_EVENT: Final = "error"
STREAM_ERROR_STATUS: Final = 500
"""An error event inside a 200 stream carries no status; treat it as the server failing."""


class OpenAIBackend(TextBackend):
    """A remote model behind an OpenAI-compatible HTTP API.

    ``base_url`` is what the official client takes (``http://host:8000/v1``);
    a URL without a path gets ``/v1``. ``api_key`` defaults to
    ``$OPENAI_API_KEY``; local servers usually need none. ``model`` defaults
    to the first one the server lists. ``timeout`` bounds each wait for data
    (so a long stream is fine as long as tokens keep coming).

    >>> backend = OpenAIBackend("http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-0.5B-Instruct")
    >>> stream = backend.chat([ChatMessage("user", "Hi!")], GenerationParams(max_tokens=50))

    Errors keep the server's message and status: ``AuthenticationFailed``
    (401/403), ``ModelNotFound`` (404), ``InvalidRequest`` (400/422),
    ``RateLimited`` (429), ``RemoteUnavailable`` (5xx, unreachable) and
    ``RemoteTimeout``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        include_usage: bool = True,
    ) -> None:
        http = require("httpx", backend="openai")
        self.base_url = _with_api_prefix(base_url)
        self.model = model
        self.timeout = timeout
        self.include_usage = include_usage
        key = os.environ.get(API_KEY_VARIABLE, "") if api_key is None else api_key
        self._client: httpx.AsyncClient = http.AsyncClient(
            base_url=self.base_url + "/",
            headers={"Authorization": f"Bearer {key}"} if key else {},
            timeout=http.Timeout(timeout, connect=connect_timeout),
        )

    @classmethod
    def from_settings(cls, settings: BackendSettings) -> OpenAIBackend:
        if not settings.base_url:
            raise ValueError("openai backend: set 'base_url', e.g. http://127.0.0.1:8000/v1")
        return cls(settings.base_url, settings.api_key, settings.model, timeout=settings.timeout)

    @property
    def name(self) -> str:
        return f"{self.model or 'default model'} (openai at {self.base_url})"

    def generate(self, prompt: str, params: GenerationParams) -> AsyncGenerator[TextDelta, None]:
        return self._stream(COMPLETIONS, {"prompt": prompt}, params)

    def chat(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[TextDelta, None]:
        turns = [{"role": m.role, "content": m.content} for m in messages]
        return self._stream(CHAT_COMPLETIONS, {"messages": turns}, params)

    async def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` as the server counts them (with any BOS token it
        adds): the API has no tokenizer endpoint, so this asks for a
        one-token completion and reads its usage."""
        body = {"model": await self._model_name(), "prompt": text, "max_tokens": 1}
        async with self._request("POST", COMPLETIONS, body) as response:
            chunk = self._decode(await response.aread(), response)
        if chunk.usage is None:
            raise RemoteError("the server reports no token usage, so tokens cannot be counted",
                              url=str(response.url))
        return chunk.usage.prompt_tokens

    async def models(self) -> list[str]:
        """The ids of the models the server offers."""
        async with self._request("GET", MODELS) as response:
            body = await response.aread()
        try:
            return [m.id for m in msgspec.json.decode(body, type=ModelList).data]
        except msgspec.DecodeError as exc:
            raise RemoteError(f"the model list is not valid JSON: {exc}",
                              url=str(response.url)) from exc

    async def close(self) -> None:
        await self._client.aclose()

    async def _stream(
        self, path: str, body: dict[str, Any], params: GenerationParams
    ) -> AsyncGenerator[TextDelta, None]:
        payload = {**body, **self._sampling(params), "model": await self._model_name(),
                   "stream": True}
        if self.include_usage:
            payload["stream_options"] = {"include_usage": True}
        reason: FinishReason | None = None
        usage: TokenUsage | None = None
        pieces = 0
        async with self._request("POST", path, payload) as response:
            async for event in iter_events(response.aiter_lines()):
                if event.data == DONE:
                    break
                chunk = self._decode(event.data.encode(), response, event.name == ERROR_EVENT)
                usage = chunk.usage.to_usage() if chunk.usage is not None else usage
                for choice in chunk.choices[:1]:
                    if choice.finish_reason is not None:
                        reason = finish_reason(choice.finish_reason)
                    if choice.content:
                        pieces += 1
                        yield TextDelta(choice.content)
            if reason is None:
                raise RemoteUnavailable("the stream ended before the server said why it stopped",
                                        url=str(response.url))
        yield TextDelta("", reason, usage or TokenUsage(completion_tokens=pieces))

    def _sampling(self, params: GenerationParams) -> dict[str, Any]:
        fields: dict[str, Any] = {"max_tokens": params.max_tokens,
                                  "temperature": params.temperature, "top_p": params.top_p}
        if params.seed is not None:
            fields["seed"] = params.seed
        if params.stop:
            fields["stop"] = list(params.stop)
        return fields

    async def _model_name(self) -> str:
        if not self.model:
            names = await self.models()
            if not names:
                raise RemoteError("the server lists no models; set the model name explicitly",
                                  url=self.base_url)
            self.model = names[0]
        return self.model

    @contextlib.asynccontextmanager
    async def _request(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed response whose status is checked; transport failures
        (here or while the body streams) become ``RemoteError``s."""
        http = require("httpx", backend="openai")
        url = f"{self.base_url}/{path}"
        try:
            async with self._client.stream(method, path, json=payload) as response:
                if response.is_error:
                    raise error_from_body(response.status_code, await response.aread(), url)
                yield response
        except http.TimeoutException as exc:
            raise RemoteTimeout(
                f"no answer within {self.timeout:g} s ({type(exc).__name__}); raise the "
                "timeout setting, or check the server's load", url=url,
            ) from exc
        except http.TransportError as exc:
            raise RemoteUnavailable(
                f"could not talk to the server ({type(exc).__name__}: {exc}); "
                f"check that it is running at {self.base_url}", url=url,
            ) from exc

    def _decode(self, data: bytes, response: httpx.Response,
                error_event: bool = False) -> CompletionChunk:
        url = str(response.url)
        try:
            chunk = msgspec.json.decode(data, type=CompletionChunk)
        except msgspec.DecodeError as exc:
            raise RemoteError(f"the server sent invalid JSON ({exc}): {data[:200]!r}",
                              url=url) from exc
        if chunk.error is not None or error_event:
            raise _stream_error(chunk.error, url)
        return chunk


def _stream_error(error: ErrorBody | str | None, url: str) -> RemoteError:
    body = error if isinstance(error, ErrorBody) else ErrorBody(message=error or "")
    status = body.code if isinstance(body.code, int) else STREAM_ERROR_STATUS
    return remote_error_class(status)(
        body.message or "the server reported an error mid-stream", status=status, url=url,
        type=body.type or "", code="" if body.code is None else str(body.code),
    )


def _with_api_prefix(base_url: str) -> str:
    url = base_url.rstrip("/")
    if not urlsplit(url).scheme:
        raise ValueError(f"openai backend: base_url {base_url!r} must start with http:// or https://")
    return url if urlsplit(url).path else url + API_PREFIX
