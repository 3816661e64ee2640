"""Which text backend to run, and its settings: one Struct, read from the app's config.

>>> BackendSettings(backend="openai", base_url="http://127.0.0.1:8000/v1", model="qwen2.5")
... # doctest: +ELLIPSIS
BackendSettings(backend='openai', ...)
"""

from __future__ import annotations

from typing import Final

import msgspec

from .engine import DEFAULT_MAX_WAITING

__all__ = ["DEFAULT_TIMEOUT", "BackendSettings"]

BUILTIN: Final = "builtin"
DEFAULT_TIMEOUT: Final = 60.0
"""Seconds a remote backend waits for each piece of an answer."""


class BackendSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings for :func:`load_backend`; each backend reads the fields it needs.

    ``backend`` is ``"builtin"`` (TinyLM; ``path`` optionally names other
    weights), ``"transformers"`` (``path``: a local Hugging Face model
    directory), ``"openai"`` (``base_url``, ``model``, ``api_key``), or the
    ``"module:Class"`` of any ``TextBackend`` with a ``from_settings``
    classmethod.
    """

    backend: str = BUILTIN
    path: str | None = None
    base_url: str = ""
    model: str = ""
    api_key: str | None = None
    """None reads ``$OPENAI_API_KEY``; keep secrets out of config files."""
    max_batch_size: int | None = None
    """Requests per decode step (1: unbatched); None keeps the backend's default."""
    max_waiting: int = DEFAULT_MAX_WAITING
    threads: int | None = None
    """torch threads for the transformers backend; None keeps its default."""
    timeout: float = DEFAULT_TIMEOUT
