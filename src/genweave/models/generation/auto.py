"""Choosing a text backend by name, importing only the one that is used.

The table maps each name to ``"module:attribute"`` (uvicorn's convention), so
that picking the built-in model never imports torch or httpx.
"""

from __future__ import annotations

from typing import Final

from genweave.models.loading import backend_class

from .base import TextBackend
from .config import BackendSettings

__all__ = ["BACKENDS", "load_backend"]

BACKENDS: Final = {
    "builtin": "genweave.models.generation.builtin_impl:BuiltinBackend",
    "transformers": "genweave.models.generation.transformers_impl:TransformersBackend",
    "openai": "genweave.models.generation.openai_impl:OpenAIBackend",
}


def load_backend(settings: BackendSettings) -> TextBackend:
    """Create the backend ``settings`` describe. Loading a model blocks: from
    async code, call this with ``asyncio.to_thread``.

    >>> backend = load_backend(BackendSettings())                 # TinyLM, batched
    >>> backend = load_backend(BackendSettings(backend="transformers", path="/models/gpt2"))
    ... # doctest: +SKIP
    """
    cls = backend_class(BACKENDS, settings.backend, TextBackend, "text")
    backend: TextBackend = cls.from_settings(settings)
    return backend
