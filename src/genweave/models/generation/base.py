"""The interface of a text-generation backend, and the data it takes and streams.

Every backend (the built-in TinyLM, a local Hugging Face model, a remote
OpenAI-compatible server) streams the same :class:`TextDelta` values for the
same :class:`GenerationParams`, so the Generator component, and everything
behind it, does not care which one runs.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from genweave.models.loading import ClosingBackend

from .chat import CHAT_STOPS, Message, format_chat

if TYPE_CHECKING:
    pass

__all__ = ["FinishReason", "GenerationParams", "TextBackend", "TextDelta", "TokenUsage"]

FinishReason = Literal["stop", "length"]

DEFAULT_MAX_TOKENS: Final = 200
DEFAULT_TEMPERATURE: Final = 0.8
DEFAULT_TOP_P: Final = 0.95
MAX_STOP_STRINGS: Final = 8


class GenerationParams(msgspec.Struct, frozen=True):
    """How to sample one completion; the fields and defaults mirror OpenAI's.

    ``temperature`` 0 means greedy decoding. ``seed`` makes sampling
    reproducible (the built-in and Hugging Face backends give the same text
    for the same seed whichever other requests share the batch). Generation
    ends at the model's end-of-text token, at any of the ``stop`` strings
    (which are not part of the output), or after ``max_tokens`` tokens.

    >>> GenerationParams(max_tokens=40, temperature=0.0, stop=["\\n\\n"])
    GenerationParams(max_tokens=40, temperature=0.0, top_p=0.95, seed=None, stop=['\\n\\n'])
    """

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    seed: int | None = None
    stop: list[str] = []

    def __post_init__(self) -> None:
        problems = [
            f"max_tokens must be at least 1, got {self.max_tokens}" if self.max_tokens < 1 else "",
            f"temperature must be 0 or more, got {self.temperature}"
            if self.temperature < 0
            else "",
            f"top_p must lie in (0, 1], got {self.top_p}" if not 0 < self.top_p <= 1 else "",
            f"at most {MAX_STOP_STRINGS} stop strings, got {len(self.stop)}"
            if len(self.stop) > MAX_STOP_STRINGS
            else "",
            "stop strings must not be empty" if any(not s for s in self.stop) else "",
        ]
        if any(problems):
            raise ValueError("GenerationParams: " + "; ".join(p for p in problems if p))

    def with_stops(self, extra: Sequence[str]) -> GenerationParams:
        """These parameters with ``extra`` stop strings added (duplicates dropped)."""
        stops = list(dict.fromkeys([*self.stop, *extra]))[:MAX_STOP_STRINGS]
        return msgspec.structs.replace(self, stop=stops)


class TokenUsage(msgspec.Struct, frozen=True):
    """Tokens read and written by one request, as the backend's tokenizer counts them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class TextDelta(msgspec.Struct, frozen=True):
    """A piece of streamed text. The last delta of a stream carries
    ``finish_reason`` and ``usage``; its ``text`` may be empty."""

    text: str
    finish_reason: FinishReason | None = None
    usage: TokenUsage | None = None


class TextBackend(ClosingBackend):
    """A text generator: a prompt (or chat messages) in, a stream of text out.

    Implementations: ``BuiltinBackend`` (TinyLM, continuous batching),
    ``TransformersBackend`` (a local Hugging Face model) and ``OpenAIBackend``
    (any OpenAI-compatible server); ``load_backend`` picks one from config.

    >>> import contextlib
    >>> async def complete(backend: TextBackend) -> str:
    ...     parts = []
    ...     async with contextlib.aclosing(
    ...         backend.generate("The for statement", GenerationParams(max_tokens=30))
    ...     ) as stream:
    ...         async for delta in stream:
    ...             parts.append(delta.text)
    ...     return "".join(parts)

    Closing a stream early (``aclose()``, a cancelled task, leaving an
    ``aclosing`` block) cancels the request: the backend stops working on it.
    Without ``aclosing``, a stream abandoned by ``break`` is only closed when
    it is garbage-collected.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A short human-readable name, e.g. ``"tinylm (builtin)"``."""

    @abc.abstractmethod
    def generate(self, prompt: str, params: GenerationParams) -> AsyncGenerator[TextDelta, None]:
        """Continue ``prompt``, streaming text deltas; the last one carries
        ``finish_reason`` and ``usage``."""

    def chat(
        self, messages: Sequence[Message], params: GenerationParams
    ) -> AsyncGenerator[TextDelta, None]:
        """Answer the last of ``messages`` as the assistant.

        This default, for models without a chat template, writes the
        conversation as a transcript (:func:`format_chat`) and stops where the
        model starts writing the next speaker's turn.
        """
        return self.generate(format_chat(messages), params.with_stops(CHAT_STOPS))

    @abc.abstractmethod
    async def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` is, as this backend's model counts them."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End every request in flight and release the model or connection."""

