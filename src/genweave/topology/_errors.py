"""How a topology problem is reported: ``FILE, [groups.core] replicas: reason``.

Every part of the package (presets, files, validation, settings) reports the
same way, so one module builds those messages and their suggestions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import TypeVar

import msgspec

from genweave.errors import TopologyError

__all__ = ["convert", "did_you_mean"]

_PATH_IN_ERROR = re.compile(r" - at `\$([^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]+)`")

T = TypeVar("T")


def convert(raw: object, tp: type[T], where: str) -> T:
    """``msgspec.convert`` whose errors read ``FILE, [groups.core] replicas: reason``."""
    try:
        return msgspec.convert(raw, tp)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH_IN_ERROR.search(message)
        key = match.group(1).lstrip(".") if match else ""
        reason = message[: match.start()] if match else message
        unknown = _UNKNOWN_FIELD.match(reason)
        if unknown:  # named with the table it is in: autoscale.targt, not targt
            name = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
            raise TopologyError(f"{where}{name}: unknown key") from None
        if not key:
            raise TopologyError(f"{where.rstrip(', ') or 'top level'}: {reason}") from None
        raise TopologyError(f"{where}{key}: {reason}") from None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``choices``, or nothing."""
    matches = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
