"""Ref proxies: a direct one calls the instance, a remote one hands the router one call;
both fail the same way for the same mistakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from genweave import (
    ComponentError,
    DeadlineExceeded,
    InvalidArgument,
    Unavailable,
    component,
    deadline,
    method,
    with_metadata,
)
from genweave.component import spec_of
from genweave.observe.metrics import REGISTRY
from genweave.observe.tracecontext import current_traceparent
from genweave.resilience import RetryPolicy
from genweave.runtime.outgoing import OutgoingCall
from genweave.runtime.refs import direct_proxy, remote_proxy

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@component(name="Writer")
class Writer:
    async def write(self, text: str, times: int = 1) -> str:
        if times < 0:
            raise ValueError("times must not be negative")
        if times == 0:
            raise Unavailable("nothing to write", component="Paper", method="take")
        return text * times

    @method(timeout=0.05)
    async def slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    async def words(self, text: str, delay: float = 0.0) -> AsyncIterator[str]:
        for word in text.split():
            await asyncio.sleep(delay)
            yield word


SPEC = spec_of(Writer)


class RecordingRouter:
    """Stands in for the router: keeps each call it is handed, answers at once."""

    def __init__(self) -> None:
        self.calls: list[OutgoingCall] = []

    async def call(self, call: OutgoingCall) -> Any:
        self.calls.append(call)
        return "sent"

    def stream(self, call: OutgoingCall) -> AsyncGenerator[Any, None]:
        self.calls.append(call)

        async def items() -> AsyncGenerator[Any, None]:
            yield "sent"

        return items()


def direct(timeout: float | None = None) -> Any:
    return direct_proxy(SPEC, Writer(), timeout)


def remote(timeout: float | None = None,
           retry: RetryPolicy | None = None) -> tuple[Any, RecordingRouter]:
    router = RecordingRouter()
    return remote_proxy(SPEC, router, "paper", "Author", timeout, retry), router  # type: ignore[arg-type]


async def test_a_direct_call_runs_the_instances_method() -> None:
    assert await direct().write("ab", times=2) == "abab"
    assert [w async for w in direct().words("one two")] == ["one", "two"]
    assert repr(direct()) == "<direct Ref to Writer>"


@pytest.mark.parametrize("kind", ["direct", "remote"])
async def test_wrong_arguments_are_refused_naming_the_method(kind: str) -> None:
    proxy = direct() if kind == "direct" else remote()[0]
    with pytest.raises(InvalidArgument) as caught:
        await proxy.write("a", colour="red")
    assert (caught.value.component, caught.value.method) == ("Writer", "write")
    with pytest.raises(InvalidArgument):
        await anext(proxy.words())


async def test_a_methods_exception_keeps_its_type_through_a_direct_ref() -> None:
    with pytest.raises(ValueError, match="times must not be negative") as caught:
        await direct().write("a", times=-1)
    assert isinstance(caught.value, ComponentError)
    assert (caught.value.component, caught.value.method) == ("Writer", "write")


async def test_a_call_error_from_further_down_passes_through_unchanged() -> None:
    with pytest.raises(Unavailable) as caught:
        await direct().write("a", times=0)
    assert (caught.value.component, caught.value.method) == ("Paper", "take")


async def test_a_method_timeout_bounds_a_direct_call() -> None:
    with pytest.raises(DeadlineExceeded, match=r"Writer.slow: no result within 0.05s"):
        await direct().slow(5.0)
    assert await direct().slow(0.0) == "done"


async def test_a_refs_timeout_bounds_a_whole_direct_stream() -> None:
    received = []
    with pytest.raises(DeadlineExceeded, match="stream not finished within 0.1s"):
        async for word in direct(timeout=0.1).words("a b c d e f g h", delay=0.03):
            received.append(word)
    assert 1 <= len(received) < 8


async def test_direct_calls_are_counted_in_the_methods_metrics() -> None:
    stats = REGISTRY.method("Writer", "write")
    calls, errors = stats.calls, stats.errors
    await direct().write("a")
    with pytest.raises(ValueError):
        await direct().write("a", times=-1)
    assert (stats.calls, stats.errors, stats.in_flight) == (calls + 2, errors + 1, 0)


async def test_a_remote_call_hands_the_router_one_call_with_all_that_travels() -> None:
    retry = RetryPolicy(attempts=5)
    proxy, router = remote(timeout=1.0, retry=retry)
    token = current_traceparent.set(TRACE)
    try:
        with with_metadata(user="ada"):
            assert await proxy.write("a", times=3) == "sent"
    finally:
        current_traceparent.reset(token)
    [call] = router.calls
    assert (call.group, call.spec, call.retry, call.variant) == ("paper", SPEC.methods["write"],
                                                                 retry, None)
    assert call.args == SPEC.methods["write"].args_type("a", 3)
    assert call.meta == {"user": "ada"}
    assert call.traceparent[3:35] == TRACE[3:35] and call.traceparent != TRACE  # a child span
    now = asyncio.get_running_loop().time()
    assert call.deadline is not None and now < call.deadline <= now + 1.0


async def test_a_remote_calls_deadline_is_the_soonest_of_method_ref_and_caller() -> None:
    proxy, router = remote(timeout=1.0)
    await proxy.write("a")
    await proxy.slow(0.0)  # the method's own 0.05 s is sooner than the Ref's
    async with deadline(0.01):
        await proxy.write("a")  # the caller's deadline is sooner still
    ref_bound, method_bound, caller_bound = (c.deadline for c in router.calls)
    assert ref_bound is not None and method_bound is not None and caller_bound is not None
    assert caller_bound < method_bound < ref_bound
    unbounded, unbounded_router = remote()
    await unbounded.write("a")
    assert unbounded_router.calls[0].deadline is None


async def test_a_remote_stream_hands_the_router_one_call() -> None:
    proxy, router = remote()
    assert [w async for w in proxy.words("a b")] == ["sent"]
    [call] = router.calls
    words = SPEC.methods["words"]
    assert call.spec is words and call.args == words.args_type("a b")
    assert repr(proxy) == "<remote (paper) Ref to Writer>"
