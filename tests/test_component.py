"""Definition-time validation of components, methods and Refs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import numpy as np
import pytest

from genweave import App, DefinitionError, Ref, component, method
from genweave.component import MethodOptions, spec_of


class Point(msgspec.Struct):
    x: float
    y: float


@dataclasses.dataclass
class Box:
    corners: list[Point]


class NotSerialisable:
    pass


def test_public_async_methods_are_the_interface() -> None:
    @component
    class Service:
        async def a(self, x: int) -> int:
            return x

        async def b(self, p: Point, box: Box | None = None) -> list[Point]:
            return [p]

        async def stream(self, n: int) -> AsyncIterator[np.ndarray]:
            yield np.zeros(n)

        async def _private(self) -> None: ...

        def helper(self) -> int:
            return 1

        async def on_start(self) -> None: ...

    spec = spec_of(Service)
    assert sorted(spec.methods) == ["a", "b", "stream"]
    assert spec.methods["stream"].stream and spec.methods["stream"].result is np.ndarray
    assert [p.required for p in spec.methods["b"].params] == [True, False]


def test_method_options_are_recorded() -> None:
    @component
    class Service:
        @method(idempotent=True, timeout=1.5)
        async def get(self, key: str) -> str:
            return key

    assert spec_of(Service).methods["get"].options == MethodOptions(True, 1.5)


@pytest.mark.parametrize(("source", "message"), [
    ("async def m(self, x: NotSerialisable) -> int: ...",
     "Service.m, parameter 'x': type NotSerialisable cannot be sent between processes"),
    ("async def m(self, x: int) -> NotSerialisable: ...",
     "Service.m, result: type NotSerialisable cannot be sent"),
    ("async def m(self, x: int) -> list[dict[str, NotSerialisable]]: ...",
     "Service.m, result: type NotSerialisable cannot be sent"),
    ("async def m(self, x) -> int: ...", "Service.m: parameter 'x' has no type annotation"),
    ("async def m(self, x: int): ...", "Service.m: missing return annotation"),
    ("async def m(self, *xs: int) -> int: ...", "Service.m: variadic parameter 'xs'"),
    ("async def m(self, **kw: int) -> int: ...", "Service.m: variadic parameter 'kw'"),
    ("async def m(self, n: int) -> int:\n        yield n",
     "Service.m: an async generator must be annotated '-> AsyncIterator[T]'"),
    ("async def m(self, n: int) -> AsyncIterator:\n        yield n",
     "Service.m: AsyncIterator needs an item type"),
    ("async def m(self, x: Undefined) -> int: ...", "Service.m: cannot resolve"),
])
def test_unsplittable_definitions_fail_naming_component_method_and_type(
    source: str, message: str
) -> None:
    namespace: dict[str, Any] = {}
    code = f"class Service:\n    {source}\n"
    exec(code, {**globals(), "AsyncIterator": AsyncIterator}, namespace)
    with pytest.raises(DefinitionError, match=_literal(message)):
        component(namespace["Service"])


def _literal(text: str) -> str:
    import re

    return re.escape(text)


def test_refs_resolve_lazily_and_must_name_components() -> None:
    @component
    class Caller:
        later: Ref[Later]

        async def go(self) -> str:
            return await self.later.ping()

    @component
    class Later:
        async def ping(self) -> str:
            return "pong"

    globals()["Later"] = Later
    try:
        assert spec_of(Caller).refs == {"later": Later}
        assert sorted(App("refs", [Caller]).components) == ["Caller", "Later"]
    finally:
        del globals()["Later"]

    @component
    class Bad:
        other: Ref[NotSerialisable]

        async def go(self) -> None: ...

    with pytest.raises(DefinitionError, match="is not a component"):
        _ = spec_of(Bad).refs


def test_fingerprint_changes_with_the_interface_only() -> None:
    def make(extra: bool) -> type:
        class Service:
            async def a(self, x: int) -> int:
                return x

            if extra:
                async def b(self) -> None: ...

        return component(Service)

    assert spec_of(make(False)).fingerprint == spec_of(make(False)).fingerprint
    assert spec_of(make(False)).fingerprint != spec_of(make(True)).fingerprint


def test_a_component_class_still_works_as_a_plain_class() -> None:
    @component(name="Renamed", role="inference", version="3")
    class Service:
        async def a(self, x: int) -> int:
            return x + 1

    spec = spec_of(Service)
    assert (spec.name, spec.role, spec.version) == ("Renamed", "inference", "3")
    assert Service().__class__ is Service


def test_lifecycle_hooks_take_no_arguments() -> None:
    class Service:
        async def on_start(self, config: dict[str, str]) -> None: ...

    with pytest.raises(DefinitionError, match="lifecycle hooks take no arguments"):
        component(Service)


def test_required_parameter_after_optional_is_refused() -> None:
    class Service:
        async def m(self, a: int = 1, *, b: int) -> int:
            return a + b

    with pytest.raises(DefinitionError, match="required parameter 'b' follows an optional one"):
        component(Service)


def test_duplicate_component_names_in_one_app_are_refused() -> None:
    def make() -> type:
        class Twin:
            async def a(self) -> None: ...

        return component(Twin)

    with pytest.raises(DefinitionError, match="two components are named 'Twin'"):
        App("twins", [make(), make()])


def test_spec_of_a_plain_class_says_how_to_fix_it() -> None:
    with pytest.raises(DefinitionError, match="decorate it with @component"):
        spec_of(NotSerialisable)


def test_method_timeout_must_be_positive() -> None:
    with pytest.raises(DefinitionError, match="timeout must be positive"):
        method(timeout=0)
