"""One behaviour suite, run under every placement and topology preset.

Each test asserts results that must be identical whether components share a
process, talk through the codec in memory, or live in separate processes.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sample_app import Answer, Front, Model, QuotaError, Store

import genweave
from conftest import eventually
from genweave import (
    CallError,
    ComponentError,
    DeadlineExceeded,
    Deployment,
    InvalidArgument,
)


async def test_plain_call_returns_struct(running: Deployment) -> None:
    await running.get(Store).put("doc-1", "the quick brown fox")
    answer = await running.get(Front).ask("quick brown")
    assert answer == Answer("quick brown", "brown quick", ["doc-1"])


async def test_default_arguments_and_keywords(running: Deployment) -> None:
    model = running.get(Model)
    assert await model.add(2) == 3
    assert await model.add(a=2, b=5) == 7


async def test_stream_yields_items_in_order(running: Deployment) -> None:
    assert [w async for w in running.get(Front).shout("one two three")] == ["ONE", "TWO", "THREE"]


async def test_long_stream_passes_flow_control(running: Deployment) -> None:
    items = [i async for i in running.get(Model).count(5000)]
    assert items == list(range(5000))


async def test_concurrent_calls_are_matched_to_their_callers(running: Deployment) -> None:
    model = running.get(Model)
    results = await asyncio.gather(*(model.add(i, i) for i in range(300)))
    assert results == [2 * i for i in range(300)]
    assert await running.get(Front).total(list(range(100))) == sum(range(100))


async def test_concurrent_streams_do_not_mix(running: Deployment) -> None:
    front = running.get(Front)

    async def collect(i: int) -> list[str]:
        return [w async for w in front.shout(f"a{i} b{i} c{i}")]

    results = await asyncio.gather(*(collect(i) for i in range(50)))
    assert results == [[f"A{i}", f"B{i}", f"C{i}"] for i in range(50)]


@pytest.mark.parametrize(("kind", "exc_type", "message"), [
    ("value", ValueError, "bad value"),
    ("quota", QuotaError, "quota of 3 exceeded"),
    ("key", KeyError, "'missing'"),
])
async def test_remote_error_keeps_its_type_and_names_the_method(
    running: Deployment, kind: str, exc_type: type[Exception], message: str
) -> None:
    with pytest.raises(exc_type) as caught:
        await running.get(Front).relay_fail(kind)
    error = caught.value
    assert isinstance(error, ComponentError)
    assert (error.component, error.method, error.message) == ("Model", "fail", message)
    assert error.remote_type.endswith(exc_type.__name__)
    assert await running.get(Front).relay_fail("none") == "no failure"


async def test_error_mid_stream_arrives_after_the_items_before_it(running: Deployment) -> None:
    received: list[int] = []
    with pytest.raises(RuntimeError, match="broke after 3 items") as caught:
        async for item in running.get(Model).fail_midstream(3):
            received.append(item)
    assert received == [0, 1, 2]
    assert isinstance(caught.value, ComponentError)


async def test_numpy_arrays_round_trip(running: Deployment) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = await running.get(Model).scale(x, 2.0)
    assert y.dtype == np.float32 and y.shape == (3, 4)
    np.testing.assert_array_equal(y, x * 2)


async def test_cancelling_the_caller_cancels_the_callee(running: Deployment) -> None:
    model, front = running.get(Model), running.get(Front)
    before = await model.stats()
    task = asyncio.create_task(front.relay_sleep(30))

    async def started() -> bool:
        return (await model.stats())["started"] > before["started"]

    await eventually(started)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def cancelled() -> bool:
        return (await model.stats())["cancelled"] > before["cancelled"]

    await eventually(cancelled)


async def test_leaving_a_stream_early_stops_the_producer(running: Deployment) -> None:
    model = running.get(Model)
    async for word in running.get(Front).shout("w " * 1000, 0.01):
        assert word == "W"
        break

    async def closed() -> bool:
        return (await model.stats())["open_streams"] == 0

    await eventually(closed)


async def test_deadline_bounds_the_whole_call_tree(running: Deployment) -> None:
    model = running.get(Model)
    before = await model.stats()
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DeadlineExceeded):
        async with genweave.deadline(0.2):
            await running.get(Front).relay_sleep(10)
    assert loop.time() - start < 2.0

    async def cancelled() -> bool:
        return (await model.stats())["cancelled"] > before["cancelled"]

    await eventually(cancelled)


async def test_method_timeout_option(running: Deployment) -> None:
    model = running.get(Model)
    assert await model.slow_with_timeout(0.0) == "done"
    with pytest.raises(DeadlineExceeded) as caught:
        await model.slow_with_timeout(5.0)
    assert (caught.value.component, caught.value.method) == ("Model", "slow_with_timeout")
    assert isinstance(caught.value, TimeoutError)


async def test_method_timeout_bounds_a_whole_stream(running: Deployment) -> None:
    model = running.get(Model)
    assert [i async for i in model.drip_with_timeout(3, 0.0)] == [0, 1, 2]
    got: list[int] = []
    with pytest.raises(DeadlineExceeded) as caught:
        async for i in model.drip_with_timeout(10, 0.05):  # 0.5 s in all, over the 0.2 s
            got.append(i)
    assert (caught.value.component, caught.value.method) == ("Model", "drip_with_timeout")
    assert 1 <= len(got) < 10


async def test_missing_or_unknown_arguments_are_refused(running: Deployment) -> None:
    model = running.get(Model)
    with pytest.raises(InvalidArgument):
        await model.add()  # type: ignore[call-arg]
    with pytest.raises(InvalidArgument):
        await model.add(1, c=2)  # type: ignore[call-arg]


async def test_wrong_argument_types_are_refused_naming_the_parameter(
    running: Deployment, placement: str
) -> None:
    if placement == "inprocess":
        pytest.skip("direct calls skip validation by design; the codec placement checks types")
    with pytest.raises(InvalidArgument, match="parameter 'a': expected `int`, got `str`") as caught:
        await running.get(Model).add("one", 2)  # type: ignore[arg-type]
    assert (caught.value.component, caught.value.method) == ("Model", "add")


async def test_metadata_travels_with_the_call(running: Deployment) -> None:
    with genweave.with_metadata(user="u-42"):
        meta = await running.get(Model).metadata()
    assert meta["user"] == "u-42"


async def test_trace_context_follows_the_call_across_hops(
    running: Deployment, placement: str
) -> None:
    if placement == "inprocess":
        pytest.skip("direct calls create no spans; trace context travels in RPC envelopes")
    from genweave.observe.tracecontext import TraceContext, current_traceparent

    root = TraceContext.new()
    token = current_traceparent.set(root.traceparent)
    try:
        trace_id = root.trace_id
        assert await running.get(Front).trace_ids() == [trace_id, trace_id]
    finally:
        current_traceparent.reset(token)
    fresh = await running.get(Front).trace_ids()
    assert fresh[0] == fresh[1] != trace_id and len(fresh[0]) == 32


async def test_call_errors_are_one_hierarchy(running: Deployment) -> None:
    with pytest.raises(CallError):
        await running.get(Model).fail("value")
