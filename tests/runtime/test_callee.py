"""The callee: each request runs as its method, with its context, metrics and admission.

Requests travel the real transport (in memory) from a ``ClientConnection``, so
what is checked here is what a caller in another process would see.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from conftest import eventually
from genweave import (
    InvalidArgument,
    NotFound,
    Overloaded,
    Unavailable,
    call_metadata,
    component,
)
from genweave.codec import encoder
from genweave.component import spec_of
from genweave.context import remaining
from genweave.observe.metrics import REGISTRY
from genweave.observe.tracecontext import current_traceparent
from genweave.runtime.callee import Callee
from genweave.transport.client import ClientConnection, failure_to_error
from genweave.transport.framing import FramedProtocol
from genweave.transport.memory import connect_pair
from genweave.transport.messages import Cancel, Failure, Message, Request
from genweave.transport.server import ServerConnection

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@component(name="Probe")
class Probe:
    """Reports what a call sees of its context; ``hold`` keeps calls in flight."""

    def __init__(self) -> None:
        self.hold = asyncio.Event()
        self.started = 0

    async def seen(self) -> dict[str, str]:
        left = remaining()
        return {**call_metadata(), "trace": current_traceparent.get(),
                "deadline": "none" if left is None else f"{left:.1f}"}

    async def wait(self) -> str:
        self.started += 1
        await self.hold.wait()
        return "released"

    async def add(self, a: int, b: int) -> int:
        return a + b

    async def fail(self) -> str:
        raise ValueError("bad input")

    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


SPECS = spec_of(Probe).methods
EMPTY = msgspec.Raw(encoder.encode(()))


class RawCaller(FramedProtocol):
    """A caller that sends whatever messages a test writes, skipping every check."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def message_received(self, message: Message) -> None:
        self.messages.append(message)


async def raw_caller(callee: Callee) -> RawCaller:
    raw = RawCaller()
    connect_pair(raw, ServerConnection(callee))
    return raw


async def connected(max_in_flight: int = 1 << 30) -> tuple[ClientConnection, Callee, Probe]:
    probe = Probe()
    callee = Callee("app", "probe/0", {"Probe": (probe, spec_of(Probe))},
                    max_in_flight=max_in_flight)
    client = ClientConnection("app", "Caller")
    connect_pair(client, ServerConnection(callee))
    await client.handshake()
    return client, callee, probe


async def call(client: ClientConnection, method: str, *args: object, meta: dict[str, str]
               | None = None, timeout: float | None = None, trace: str = "") -> object:
    spec = SPECS[method]
    return await client.call(spec, spec.args_type(*args), meta or {}, timeout, trace)


async def test_a_call_runs_with_the_callers_metadata_deadline_and_trace() -> None:
    client, _, _ = await connected()
    seen = await call(client, "seen", meta={"user": "ada"}, timeout=5.0, trace=TRACE)
    assert seen == {"user": "ada", "caller": "Caller", "trace": TRACE, "deadline": "5.0"}
    assert await call(client, "seen") == {"caller": "Caller", "trace": "", "deadline": "none"}


async def test_each_call_is_counted_in_its_methods_metrics() -> None:
    client, _, _ = await connected()
    stats = REGISTRY.method("Probe", "add")
    calls, errors = stats.calls, stats.errors
    assert await call(client, "add", 2, 3) == 5
    with pytest.raises(ValueError, match="bad input"):
        await call(client, "fail")
    assert (stats.calls, stats.errors, stats.in_flight) == (calls + 1, errors, 0)
    failed = REGISTRY.method("Probe", "fail")
    assert failed.errors >= 1 and failed.in_flight == 0
    assert [i async for i in client.stream(SPECS["count"], SPECS["count"].args_type(3), {},
                                           None, "")] == [0, 1, 2]


async def test_unknown_methods_and_components_are_not_found() -> None:
    _, callee, _ = await connected()
    raw = await raw_caller(callee)
    raw.send(Request(1, "Probe", "nope", EMPTY))
    raw.send(Request(2, "Other", "seen", EMPTY))
    failures = await eventually(lambda: [m for m in raw.messages if isinstance(m, Failure)])
    found = [failure_to_error(f) for f in failures]
    assert all(isinstance(e, NotFound) for e in found)
    assert str(found[0]) == "Probe.nope: no such method (at probe/0)"
    assert str(found[1]) == "Other.seen: component is not served at probe/0 (at probe/0)"


async def test_arguments_of_the_wrong_type_are_refused_naming_the_parameter() -> None:
    client, _, _ = await connected()
    spec = SPECS["add"]
    with pytest.raises(InvalidArgument, match="parameter 'a': expected `int`, got `str`"):
        await client.call(spec, spec.args_type("one", 2), {}, None, "")


async def test_calls_beyond_the_limit_are_refused_until_one_finishes() -> None:
    client, callee, probe = await connected(max_in_flight=2)
    held = [asyncio.ensure_future(call(client, "wait")) for _ in range(2)]
    await eventually(lambda: probe.started == 2)
    with pytest.raises(Overloaded, match="replica is at its limit of 2 calls in flight"):
        await call(client, "add", 1, 1)
    probe.hold.set()
    assert await asyncio.gather(*held) == ["released"] * 2
    assert callee.in_flight == 0
    assert await call(client, "add", 1, 1) == 2


async def test_a_draining_callee_refuses_new_calls_and_waits_for_those_in_flight() -> None:
    client, callee, probe = await connected()
    held = asyncio.ensure_future(call(client, "wait"))
    await eventually(lambda: probe.started == 1)
    drained = asyncio.ensure_future(callee.drain(grace=5.0, quiet=0.0))
    await eventually(lambda: callee.admission.draining)
    with pytest.raises(Unavailable, match="draining"):
        await call(client, "add", 1, 1)
    probe.hold.set()
    assert await held == "released"
    assert await drained


async def test_a_call_cancelled_before_it_ran_gives_back_its_place() -> None:
    client, callee, _ = await connected(max_in_flight=1)
    raw = await raw_caller(callee)
    args = msgspec.Raw(encoder.encode(SPECS["add"].args_type(1, 2)))
    # Sent in one loop turn, so read in one: the call's task is cancelled before it runs,
    # and the call after it finds the one place still taken.
    raw.send(Request(1, "Probe", "add", args))
    raw.send(Cancel(1))
    raw.send(Request(2, "Probe", "add", args))
    [refused] = await eventually(lambda: [m for m in raw.messages if isinstance(m, Failure)])
    assert (refused.id, refused.kind) == (2, "Overloaded")
    await eventually(lambda: callee.in_flight == 0)
    assert await call(client, "add", 1, 2) == 3  # the place was given back
