"""Caller and callee on different versions: compatible changes work, others fail at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from genweave import App, InterfaceMismatch, component
from genweave.component import spec_of
from genweave.runtime.callee import Callee
from genweave.runtime.membership import Membership
from genweave.runtime.refs import remote_proxy
from genweave.runtime.router import Router
from genweave.transport.endpoints import listen, memory_servers


def greeter_v1() -> type:
    class Greeter:
        async def greet(self, name: str) -> str:
            return f"hello {name}"

        async def wave(self) -> str:
            return "wave"

    return component(name="Greeter", version="1")(Greeter)


def greeter_optional_lang() -> type:
    class Greeter:
        async def greet(self, name: str, lang: str = "en") -> str:
            return f"{'hola' if lang == 'es' else 'hello'} {name}"

        async def wave(self) -> str:
            return "wave"

    return component(name="Greeter", version="2")(Greeter)


def greeter_required_lang() -> type:
    class Greeter:
        async def greet(self, name: str, lang: str) -> str:
            return f"{lang}: {name}"

    return component(name="Greeter", version="3")(Greeter)


def greeter_streaming() -> type:
    class Greeter:
        async def greet(self, name: str) -> AsyncIterator[str]:
            yield name

    return component(name="Greeter", version="4")(Greeter)


async def call(caller_cls: type, callee_cls: type, method: str, *args: object) -> object:
    address = f"memory:compat-{id(callee_cls)}"
    await listen(address, Callee("compat", "greeter/0", {
        "Greeter": (callee_cls(), spec_of(callee_cls))}))
    router = Router("compat", "client", Membership({"greeter": [address]}))
    try:
        proxy = remote_proxy(spec_of(caller_cls), router, "greeter", "client")
        return await getattr(proxy, method)(*args)
    finally:
        await router.close()
        memory_servers.pop(address.partition(":")[2])


async def test_adding_an_optional_parameter_is_compatible_both_ways() -> None:
    assert await call(greeter_v1(), greeter_optional_lang(), "greet", "ana") == "hello ana"
    assert await call(greeter_optional_lang(), greeter_v1(), "greet", "ana") == "hello ana"


@pytest.mark.parametrize(("caller", "callee", "reason"), [
    (greeter_v1, greeter_required_lang,
     "the callee requires parameter 'lang', which the caller does not send"),
    (greeter_v1, greeter_streaming, "the callee's method streams"),
])
async def test_incompatible_versions_fail_at_once_naming_both(
    caller: type, callee: type, reason: str
) -> None:
    caller_cls, callee_cls = caller(), callee()  # type: ignore[operator]
    with pytest.raises(InterfaceMismatch) as caught:
        await call(caller_cls, callee_cls, "greet", "ana")
    message = str(caught.value)
    assert f"caller has version 1, callee has version {spec_of(callee_cls).version}" in message
    assert reason in message


async def test_a_method_missing_in_the_callee() -> None:
    with pytest.raises(InterfaceMismatch, match="the callee has no such method"):
        await call(greeter_v1(), greeter_required_lang(), "wave")


async def test_the_handshake_refuses_another_app() -> None:
    from genweave import Unavailable

    cls = greeter_v1()
    address = "memory:other-app"
    await listen(address, Callee("other", "x/0", {"Greeter": (cls(), spec_of(cls))}))
    router = Router("compat", "client", Membership({"g": [address]}), ready_wait=0)
    try:
        with pytest.raises(Unavailable, match="for app 'other', expected protocol 1 for 'compat'"):
            await remote_proxy(spec_of(cls), router, "g", "client").greet("x")
    finally:
        await router.close()
        memory_servers.pop("other-app")
    assert App("compat", [cls]).spec("Greeter").version == "1"
