"""What every model backend family shares: choosing a backend by name, importing only
the one that is used, and closing it with ``async with``.

The tables map names to ``"module:attribute"`` (uvicorn's convention), so that
picking a built-in model never imports torch, transformers or httpx.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["ClosingBackend", "backend_class", "import_from_string"]

B = TypeVar("B", bound=type)


def import_from_string(target: str) -> Any:
    """The object named by ``"package.module:attribute"``.

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


def backend_class(table: Mapping[str, str], name: str, base: B, kind: str) -> B:
    """The class for backend ``name``: a key of ``table`` or a ``"module:Class"`` string.

    >>> backend_class({"dict": "builtins:dict"}, "dict", dict, "mapping")
    <class 'dict'>
    """
    if name not in table and ":" not in name:
        known = ", ".join(sorted(table))
        raise ValueError(
            f"unknown {kind} backend {name!r}; use one of {known}, or 'module:Class' for your own"
        )
    cls = import_from_string(table.get(name, name))
    if not (isinstance(cls, type) and issubclass(cls, base)):
        article = "an" if base.__name__[:1] in "AEIOU" else "a"
        raise TypeError(f"{kind} backend {name!r} is {cls!r}, which is not {article} "
                        f"{base.__name__} subclass")
    return cls  # type: ignore[return-value]


class ClosingBackend(abc.ABC):
    """A backend that holds a model or a connection: ``async with`` closes it."""

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        """Create the backend from config (what the family's ``load_*`` function calls)."""
        raise TypeError(
            f"{cls.__name__} cannot be created from settings; "
            "give it a from_settings classmethod, or construct it directly"
        )

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish or end the work in flight and release the model or connection."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
