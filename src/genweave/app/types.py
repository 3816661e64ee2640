"""The messages of the reference application, shared by its components and the gateway.

They are plain msgspec Structs: what crosses a Ref between groups, validated on
arrival, and close enough to OpenAI's shapes that the gateway maps them 1:1.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import numpy as np

from genweave.jobs import JobState

__all__ = [
    "ChatEvent",
    "ChatMessage",
    "ChatRequest",
    "Citation",
    "DocumentIn",
    "EmbeddingResult",
    "Image",
    "JobStatus",
    "MediaType",
    "ModerationResult",
    "Passage",
    "Usage",
]

Role = Literal["system", "user", "assistant"]


class ChatMessage(msgspec.Struct, frozen=True):
    role: Role
    content: str


class ChatRequest(msgspec.Struct, frozen=True):
    """A chat turn. ``retrieval`` and ``illustrate`` switch the optional stages."""

    messages: list[ChatMessage]
    max_tokens: int = 200
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    stop: list[str] = []
    retrieval: bool = True
    top_k: int = 4
    illustrate: bool = False
    user: str = ""


class Usage(msgspec.Struct, frozen=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Passage(msgspec.Struct, frozen=True):
    """A retrieved chunk of a document, with its similarity to the query."""

    document: str
    title: str
    chunk: int
    text: str
    score: float


class Citation(msgspec.Struct, frozen=True):
    """A retrieved chunk the answer is grounded on; ``index`` is its ``[n]`` marker."""

    index: int
    document: str
    title: str
    chunk: int
    score: float
    snippet: str


class Image(msgspec.Struct, frozen=True):
    png: bytes
    prompt: str
    seed: int
    detail: str = ""


class EmbeddingResult(msgspec.Struct, frozen=True):
    """The Embedder's answer: unit-length vectors, one row per input text, with the
    tokens they cost and the model that made them (the vectors alone are
    :data:`genweave.models.embedding.Embeddings`)."""

    vectors: np.ndarray
    tokens: int
    model: str


MediaType = Literal["text/plain", "text/markdown", "text/html"]


class DocumentIn(msgspec.Struct, frozen=True):
    """A document to ingest; ``id`` defaults to one derived from title and text."""

    title: str
    text: str
    media_type: MediaType = "text/plain"
    id: str = ""
    source: str = ""


class JobStatus(msgspec.Struct, frozen=True):
    """A durable job's progress; ``done``/``total`` count its steps (chunks).

    ``state`` is the job queue's own :class:`~genweave.jobs.JobState`, so the
    reference app and the framework mean the same thing by it.
    """

    id: str
    kind: str
    state: JobState
    done: int = 0
    total: int = 0
    message: str = ""
    error: str = ""


class ModerationResult(msgspec.Struct, frozen=True):
    """OpenAI moderation shape: per-category flags and scores, plus what matched."""

    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    matches: list[str] = []


EventType = Literal["delta", "citations", "image", "degraded", "blocked", "done"]


class ChatEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """One step of a streamed answer.

    ``delta``: more answer text.  ``citations``: the sources.  ``image``: an
    illustration.  ``degraded``: stages skipped because a component was
    unavailable.  ``blocked``: moderation refused the input or output.
    ``done``: the end, with ``finish_reason`` and ``usage``.
    """

    type: EventType
    text: str = ""
    citations: list[Citation] = []
    image: Image | None = None
    degraded: list[str] = []
    categories: list[str] = []
    finish_reason: str = ""
    usage: Usage | None = None
