"""A call described as text (``'Component.method {"arg": 1}'``), made and printed as JSON.

What ``genweave call`` and ``genweave run --call`` do, against any deployment::

    await invoke(running, 'Frontend.hello {"name": "world"}', print)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec

from genweave.codec import describe_validation_error
from genweave.deploy.base import Deployment
from genweave.errors import InvalidArgument

__all__ = ["invoke", "parse_call"]


def parse_call(text: str) -> tuple[str, str, dict[str, Any]]:
    """``'Component.method {"arg": 1}'`` -> (component, method, keyword arguments)."""
    target, _, raw_args = text.strip().partition(" ")
    component, sep, method = target.rpartition(".")
    if not sep or not component or not method:
        raise ValueError(f"expected 'Component.method JSON-ARGS', got {text!r}")
    args = json.loads(raw_args) if raw_args.strip() else {}
    if not isinstance(args, dict):
        raise ValueError("call arguments must be a JSON object of parameter names to values")
    return component, method, args


async def invoke(deployment: Deployment, text: str, out: Callable[[str], None]) -> None:
    """Make the call described by ``text`` and print its result (each item, for streams)."""
    component, method_name, kwargs = parse_call(text)
    spec = deployment.app.spec(component)
    if method_name not in spec.methods:
        raise ValueError(f"{component} has no method '{method_name}'; it has "
                         f"{', '.join(sorted(spec.methods))}")
    method = spec.methods[method_name]
    unknown = sorted(set(kwargs) - {p.name for p in method.params})
    if unknown:
        raise InvalidArgument(f"unknown parameter '{unknown[0]}'", component=component,
                              method=method_name)
    try:
        args = msgspec.convert(kwargs, method.args_type)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(describe_validation_error(str(exc)), component=component,
                              method=method_name) from None
    values = {name: getattr(args, name) for name in args.__struct_fields__}
    fn = getattr(deployment.proxy(component), method_name)
    if method.stream:
        async for item in fn(**values):
            out(_to_json(item))
    else:
        out(_to_json(await fn(**values)))


def _to_json(value: object) -> str:
    def enc_hook(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        raise TypeError(f"cannot show a {type(obj).__name__} as JSON")

    return msgspec.json.encode(value, enc_hook=enc_hook).decode()
