"""Text generation backends: the built-in TinyLM, local Hugging Face models,
and any OpenAI-compatible server, all streaming the same ``TextDelta``\\ s.

>>> from genweave.models.generation import BackendSettings, GenerationParams, load_backend
>>> backend = load_backend(BackendSettings(backend="builtin"))
>>> stream = backend.generate("The for statement", GenerationParams(max_tokens=40, seed=0))

Only the chosen backend's module is imported (torch, transformers and httpx
never are for the built-in one).
"""

from __future__ import annotations

from .auto import BACKENDS, load_backend
from .base import FinishReason, GenerationParams, TextBackend, TextDelta, TokenUsage
from .chat import CHAT_STOPS, Message, format_chat
from .config import BackendSettings
from .engine import Engine, EngineStats
from .errors import (
    AuthenticationFailed,
    BackendClosed,
    BackendOverloaded,
    GenerationError,
    InvalidRequest,
    MissingDependency,
    ModelNotFound,
    PromptTooLong,
    RateLimited,
    RemoteError,
    RemoteTimeout,
    RemoteUnavailable,
)

__all__ = [
    "BACKENDS",
    "CHAT_STOPS",
    "AuthenticationFailed",
    "BackendClosed",
    "BackendOverloaded",
    "BackendSettings",
    "Engine",
    "EngineStats",
    "FinishReason",
    "GenerationError",
    "GenerationParams",
    "InvalidRequest",
    "Message",
    "MissingDependency",
    "ModelNotFound",
    "PromptTooLong",
    "RateLimited",
    "RemoteError",
    "RemoteTimeout",
    "RemoteUnavailable",
    "TextBackend",
    "TextDelta",
    "TokenUsage",
    "format_chat",
    "load_backend",
]
