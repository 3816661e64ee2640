"""The parts of OpenAI's response shapes that a streaming client reads.

Decoding into Structs validates what servers send (vLLM, TGI, Ollama and
hosted APIs differ in details) and ignores every field not listed here.
"""

from __future__ import annotations

from typing import Final

import msgspec

from .base import FinishReason, TokenUsage
from .errors import RemoteError, remote_error_class

__all__ = ["CompletionChunk", "ErrorBody", "ModelList", "error_from_body", "finish_reason"]

MAX_ERROR_TEXT: Final = 500


class Delta(msgspec.Struct):
    content: str | None = None


class Choice(msgspec.Struct):
    text: str | None = None
    delta: Delta | None = None
    message: Delta | None = None
    finish_reason: str | None = None

    @property
    def content(self) -> str:
        """The text of a completion choice, or of a chat choice's delta or message."""
        for part in (self.delta, self.message):
            if part is not None and part.content:
                return part.content
        return self.text or ""


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_usage(self) -> TokenUsage:
        return TokenUsage(self.prompt_tokens, self.completion_tokens)


class ErrorBody(msgspec.Struct):
    message: str = ""
    type: str | None = None
    code: str | int | None = None


class CompletionChunk(msgspec.Struct):
    """A streamed chunk, or a whole non-streamed response (same fields)."""

    choices: list[Choice] = []
    usage: Usage | None = None
    error: ErrorBody | str | None = None


class Model(msgspec.Struct):
    id: str


class ModelList(msgspec.Struct):
    data: list[Model] = []


class _ErrorEnvelope(msgspec.Struct):
    error: ErrorBody | str | None = None
    detail: str | None = None
    message: str | None = None


def finish_reason(value: str | None) -> FinishReason:
    """OpenAI's ``length`` stays; every other reason a server gives
    (``stop``, ``eos_token``, ``content_filter``...) means it stopped by itself."""
    return "length" if value == "length" else "stop"


def error_from_body(status: int, body: bytes, url: str) -> RemoteError:
    """The exception for an error response, with the server's own message."""
    try:
        envelope = msgspec.json.decode(body, type=_ErrorEnvelope)
    except msgspec.DecodeError:
        envelope = _ErrorEnvelope()
    error = envelope.error
    if isinstance(error, ErrorBody):
        message, kind, code = error.message, error.type or "", error.code
    else:
        text = error or envelope.detail or envelope.message
        message, kind, code = text or _plain(body), "", None
    return remote_error_class(status)(
        message or "(no message)", status=status, url=url, type=kind,
        code="" if code is None else str(code),
    )


def _plain(body: bytes) -> str:
    return body.decode("utf-8", errors="replace").strip()[:MAX_ERROR_TEXT]
