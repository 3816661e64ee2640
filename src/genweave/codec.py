"""msgspec encoding of arguments, results and envelopes.

Everything on the wire is msgpack produced by msgspec: typed, validated on
arrival, and never pickle.  NumPy arrays travel as a msgpack extension holding
the dtype, the shape and the raw buffer.  This module also decides, at
definition time, whether a type can cross a process boundary at all.
"""

from __future__ import annotations

import re
import struct
import types
import typing
from typing import Any, Final

import msgspec
import msgspec.inspect as mi

from genweave.errors import DefinitionError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "check_serialisable",
    "decoder",
    "describe_validation_error",
    "encoder",
    "type_name",
]

DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
NDARRAY_EXT: Final = 1
_HEADER_LEN = struct.Struct("<H")


def _is_ndarray(obj: object) -> bool:
    # numpy is imported lazily: a component that never sends arrays never pays for it.
    cls = type(obj)
    return cls.__module__ == "numpy" and cls.__name__ == "ndarray"


def _enc_hook(obj: Any) -> Any:
    if _is_ndarray(obj):
        if obj.dtype.hasobject:
            raise TypeError("numpy arrays of dtype=object cannot be sent")
        header = msgspec.msgpack.encode((obj.dtype.str, obj.shape))
        return msgspec.msgpack.Ext(
            NDARRAY_EXT, _HEADER_LEN.pack(len(header)) + header + obj.tobytes(order="C")
        )
    raise TypeError(f"objects of type {type(obj).__qualname__} cannot be sent")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != NDARRAY_EXT:
        raise msgspec.ValidationError(f"unknown msgpack extension type {code}")
    import numpy as np

    (header_len,) = _HEADER_LEN.unpack_from(data)
    start = _HEADER_LEN.size + header_len
    dtype, shape = msgspec.msgpack.decode(data[_HEADER_LEN.size : start])
    # Copy: the message buffer is read-only and shared; callers may mutate arrays.
    return np.frombuffer(data[start:], dtype=np.dtype(dtype)).reshape(shape).copy()


def _dec_hook(tp: type, obj: Any) -> Any:
    if isinstance(obj, tp):
        return obj
    raise msgspec.ValidationError(f"Expected `{tp.__qualname__}`, got `{type(obj).__name__}`")


encoder: Final = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
"""The one encoder for everything genweave puts on the wire."""


def decoder(tp: Any) -> msgspec.msgpack.Decoder[Any]:
    """A decoder that validates messages against ``tp`` and understands arrays."""
    return msgspec.msgpack.Decoder(tp, ext_hook=_ext_hook, dec_hook=_dec_hook)


def _custom_types_allowed() -> tuple[type, ...]:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return ()
    return (np.ndarray,)


def check_serialisable(tp: Any, where: str) -> None:
    """Raise ``DefinitionError`` unless values of ``tp`` can be sent as msgpack.

    ``where`` names the place (``Component.method, parameter 'x'``) so the
    error points at the line to change.
    """
    try:
        info = mi.type_info(tp)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{where}: type {type_name(tp)} cannot be sent: {exc}") from None
    allowed = _custom_types_allowed()
    for node in _walk(info):
        if isinstance(node, mi.CustomType) and not issubclass(node.cls, allowed):
            raise DefinitionError(
                f"{where}: type {node.cls.__qualname__} cannot be sent between processes; "
                "use msgspec Structs, dataclasses, primitives, bytes, lists, dicts "
                "or numpy arrays"
            )


def _walk(info: mi.Type) -> list[mi.Type]:
    seen: set[int] = set()
    out: list[mi.Type] = []
    stack = [info]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        for attr in ("item_type", "key_type", "value_type"):
            child = getattr(node, attr, None)
            if isinstance(child, mi.Type):
                stack.append(child)
        for attr in ("types", "item_types"):
            stack.extend(getattr(node, attr, ()))
        stack.extend(field.type for field in getattr(node, "fields", ()))
    return out


def type_name(tp: Any) -> str:
    """A stable, module-free spelling of a type, used in interface fingerprints."""
    if tp is type(None) or tp is None:
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is not None and args:
        if origin in (typing.Union, types.UnionType):
            return " | ".join(type_name(a) for a in args)
        base = getattr(origin, "__qualname__", None) or getattr(origin, "_name", None)
        return f"{base or repr(origin)}[{', '.join(type_name(a) for a in args)}]"
    name = getattr(tp, "__qualname__", None)
    return name if isinstance(name, str) else repr(tp)


_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")


def describe_validation_error(message: str) -> str:
    """Name the parameter in a msgspec validation message about a method's arguments.

    ``Expected `int`, got `str` - at `$.n``` becomes
    ``parameter 'n': expected `int`, got `str```.
    """
    missing = _MISSING.match(message)
    if missing:
        return f"missing required parameter '{missing.group(1)}'"
    reason, sep, path = message.partition(" - at `$.")
    if not sep:
        return message
    path = path.rstrip("`")
    name = re.split(r"[.\[]", path, maxsplit=1)[0]
    location = f" (at {path})" if path != name else ""
    return f"parameter '{name}': {reason[:1].lower()}{reason[1:]}{location}"
