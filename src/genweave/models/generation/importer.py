"""Importing backends and their optional dependencies only when they are used.

torch, transformers and httpx take seconds to import, or are not installed
at all where only the built-in model runs, so no module of this package
imports them at top level.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

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


def import_from_string(target: str) -> Any:
    """The object named by ``"package.module:attribute"`` (uvicorn's convention).

    >>> import_from_string("json:dumps").__name__
    'dumps'
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"import string {target!r} must look like 'package.module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
