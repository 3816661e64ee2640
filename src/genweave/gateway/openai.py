"""OpenAI's request and response shapes, as msgspec Structs.

Requests are validated on arrival (types and ranges), so a bad value becomes a
400 naming the parameter.  Fields OpenAI defines that genweave ignores are
accepted (unknown fields pass), so SDKs and tools work unchanged.  genweave's
own additions (citations, degraded stages) travel in an extra ``genweave`` field
that OpenAI clients ignore.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "Completion",
    "CompletionRequest",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "ImageRequest",
    "ImagesResponse",
    "Model",
    "ModelList",
    "ModerationRequest",
    "ModerationResponse",
]

MaxTokens = Annotated[int, Meta(ge=1, le=4096)]
Temperature = Annotated[float, Meta(ge=0.0, le=2.0)]
TopP = Annotated[float, Meta(gt=0.0, le=1.0)]
Stop = str | Annotated[list[str], Meta(max_length=4)] | None
NonEmpty = Annotated[str, Meta(min_length=1)]
Seed = Annotated[int, Meta(ge=0, le=2**63 - 1)]


class _Request(msgspec.Struct, kw_only=True):
    model: NonEmpty


class Message(msgspec.Struct, kw_only=True):
    role: Literal["system", "user", "assistant", "developer"]
    content: str


class StreamOptions(msgspec.Struct, kw_only=True):
    include_usage: bool = False


class ChatCompletionRequest(_Request, kw_only=True):
    messages: Annotated[list[Message], Meta(min_length=1)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = None
    temperature: Temperature = 0.8
    top_p: TopP = 0.95
    seed: Seed | None = None
    stop: Stop = None
    n: Annotated[int, Meta(ge=1, le=1)] = 1
    user: str = ""
    retrieval: bool = True
    """genweave: ground the answer on the document store (RAG)."""
    illustrate: bool = False
    """genweave: also draw an image for the answer."""


class CompletionRequest(_Request, kw_only=True):
    prompt: str | Annotated[list[str], Meta(min_length=1, max_length=16)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: MaxTokens = 16
    temperature: Temperature = 0.8
    top_p: TopP = 0.95
    seed: Seed | None = None
    stop: Stop = None
    user: str = ""


class EmbeddingRequest(_Request, kw_only=True):
    input: NonEmpty | Annotated[list[str], Meta(min_length=1, max_length=512)]
    encoding_format: Literal["float", "base64"] = "float"
    user: str = ""


class ImageRequest(msgspec.Struct, kw_only=True):
    prompt: Annotated[str, Meta(min_length=1, max_length=4000)]
    model: str | None = None
    n: Annotated[int, Meta(ge=1, le=4)] = 1
    size: Literal["64x64", "128x128", "256x256", "512x512", "1024x1024"] = "256x256"
    response_format: Literal["b64_json"] = "b64_json"
    seed: Seed | None = None
    user: str = ""


class ModerationRequest(msgspec.Struct, kw_only=True):
    input: str | Annotated[list[str], Meta(min_length=1, max_length=64)]
    model: str | None = None


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChoiceMessage(msgspec.Struct, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: ChoiceMessage
    finish_reason: str


class ChatCompletion(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    genweave: dict[str, Any] | None = None


class Delta(msgspec.Struct, kw_only=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None


class ChunkChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None


class ChatCompletionChunk(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    genweave: dict[str, Any] | None = None


class CompletionChoice(msgspec.Struct, kw_only=True):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: None = None


class Completion(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class Embedding(msgspec.Struct, kw_only=True):
    index: int
    embedding: list[float] | str
    object: Literal["embedding"] = "embedding"


class EmbeddingUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(msgspec.Struct, kw_only=True):
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
    object: Literal["list"] = "list"


class ImageData(msgspec.Struct, kw_only=True):
    b64_json: str
    revised_prompt: str


class ImagesResponse(msgspec.Struct, kw_only=True):
    created: int
    data: list[ImageData]


class ModerationOutcome(msgspec.Struct, kw_only=True):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]


class ModerationResponse(msgspec.Struct, kw_only=True):
    id: str
    model: str
    results: list[ModerationOutcome]


class Model(msgspec.Struct, kw_only=True):
    id: str
    created: int
    owned_by: str = "genweave"
    object: Literal["model"] = "model"


class ModelList(msgspec.Struct, kw_only=True):
    data: list[Model]
    object: Literal["list"] = "list"
