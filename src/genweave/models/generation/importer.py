"""Importing backends and their optional dependencies only when they are used.

torch, transformers and httpx take seconds to import, or are not installed
at all where only the built-in model runs, so no module of this package
imports them at top level.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from genweave.models.loading import import_from_string

from .errors import MissingDependency

__all__ = ["import_from_string", "require"]


def require(module: str, *, backend: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it.

    >>> require("json", backend="builtin").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(module.partition(".")[0], backend, str(exc)) from exc
