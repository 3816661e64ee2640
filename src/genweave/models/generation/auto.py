"""Choosing a text backend by name, importing only the one that is used.

The table maps each name to ``"module:attribute"`` (uvicorn's convention), so
that picking the built-in model never imports torch or httpx.
"""

from __future__ import annotations

from typing import Final

from .base import TextBackend
from .config import BackendSettings
from .importer import import_from_string

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
    name = settings.backend
    if name not in BACKENDS and ":" not in name:
        known = ", ".join(sorted(BACKENDS))
        raise ValueError(
            f"unknown text backend {name!r}; use one of {known}, or 'module:Class' for your own"
        )
    cls = import_from_string(BACKENDS.get(name, name))
    if not (isinstance(cls, type) and issubclass(cls, TextBackend)):
        raise TypeError(f"text backend {name!r} is {cls!r}, which is not a TextBackend subclass")
    backend: TextBackend = cls.from_settings(settings)
    return backend
