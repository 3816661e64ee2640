"""Variant choice: sticky per user, weighted, and shadow copies sampled, counted and bounded."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator

from conftest import eventually
from genweave import Unavailable, component
from genweave.component import spec_of
from genweave.observe.metrics import REGISTRY
from genweave.resilience import RetryPolicy
from genweave.runtime.membership import Split
from genweave.runtime.outgoing import OutgoingCall
from genweave.runtime.variants import SHADOW_LIMIT, Variants, pick, shadow_variants


def test_variants_are_picked_by_weight_and_stick_to_a_user() -> None:
    splits = [Split("primary", 70.0, ["unix:/p"]), Split("b", 30.0, ["unix:/b"])]
    picks = collections.Counter(pick(splits, "g", {"user": f"u{i}"}) for i in range(4000))
    assert abs(picks["b"] / 4000 - 0.30) < 0.03
    assert all(pick(splits, "g", {"user": "ada"}) == pick(splits, "g", {"user": "ada"})
               for _ in range(20))
    assert pick(splits, "g", {"api_key": "team-x"}) == pick(splits, "g", {"api_key": "team-x"})


def test_a_variant_without_ready_replicas_sends_its_share_to_the_primary() -> None:
    splits = [Split("primary", 0.0, ["unix:/p"]), Split("b", 100.0, [])]
    assert pick(splits, "g", {"user": "ada"}) == "primary"


def test_shadow_copies_follow_their_sample() -> None:
    splits = [Split("primary", 100.0, ["unix:/p"]),
              Split("shadow", 25.0, ["unix:/s"], shadow=True),
              Split("idle", 100.0, [], shadow=True)]
    copies = collections.Counter(v for _ in range(4000) for v in shadow_variants(splits))
    assert abs(copies["shadow"] / 4000 - 0.25) < 0.03
    assert copies["idle"] == 0  # no ready replica: no copy


def outgoing(group: str = "g") -> OutgoingCall:
    spec = spec_of(Painter).methods["paint"]
    return OutgoingCall(group, spec, spec.args_type("sky"), {"user": "ada"}, None, "")


@component(name="Painter")
class Painter:
    async def paint(self, prompt: str) -> str:
        return prompt

    async def strokes(self, n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield str(i)


class Routes:
    """Stands in for the router's retry loop: answers with the variant each call went to."""

    def __init__(self, slow_shadow: bool = False) -> None:
        self.sent: list[OutgoingCall] = []
        self.slow_shadow = slow_shadow

    async def send(self, call: OutgoingCall) -> str:
        self.sent.append(call)
        if call.variant == "shadow":
            if self.slow_shadow:
                await asyncio.Event().wait()
            raise Unavailable("the shadow is down")
        return call.variant or ""

    async def stream(self, call: OutgoingCall) -> AsyncIterator[str]:
        self.sent.append(call)
        if call.variant == "shadow":
            raise Unavailable("the shadow is down")
        yield call.variant or ""


SPLITS = [Split("primary", 100.0, ["unix:/p"]), Split("shadow", 100.0, ["unix:/s"], shadow=True)]


async def test_a_call_goes_to_its_variant_and_a_copy_to_each_shadow() -> None:
    routes = Routes()
    variants = Variants(routes.send, routes.stream)  # type: ignore[arg-type]
    shadow_stats = REGISTRY.variant("g", "shadow")
    primary_stats = REGISTRY.variant("g", "primary")
    shadow_errors, primary_calls = shadow_stats.errors, primary_stats.calls
    assert await variants.call(outgoing(), SPLITS) == "primary"
    copies = await eventually(lambda: [c for c in routes.sent if c.variant == "shadow"])
    assert copies[0].args == outgoing().args and copies[0].retry == RetryPolicy(attempts=1)
    await eventually(lambda: shadow_stats.errors == shadow_errors + 1)  # counted, not raised
    assert primary_stats.calls == primary_calls + 1


async def test_a_stream_goes_to_its_variant_and_a_shadow_copy_is_drained() -> None:
    routes = Routes()
    variants = Variants(routes.send, routes.stream)  # type: ignore[arg-type]
    spec = spec_of(Painter).methods["strokes"]
    call = OutgoingCall("g", spec, spec.args_type(2), {}, None, "")
    assert [item async for item in variants.stream(call, SPLITS)] == ["primary"]
    await eventually(lambda: [c for c in routes.sent if c.variant == "shadow"])


async def test_shadow_copies_in_flight_are_bounded_and_cancelled_on_close() -> None:
    routes = Routes(slow_shadow=True)
    variants = Variants(routes.send, routes.stream)  # type: ignore[arg-type]
    for _ in range(SHADOW_LIMIT + 10):
        await variants.call(outgoing(), SPLITS)
    await eventually(lambda: len([c for c in routes.sent if c.variant == "shadow"])
                     == SHADOW_LIMIT)
    variants.close()

    async def copies_are_sent_again() -> bool:
        await variants.call(outgoing(), SPLITS)
        return len([c for c in routes.sent if c.variant == "shadow"]) > SHADOW_LIMIT

    await eventually(copies_are_sent_again)  # room again once the cancelled copies are gone
    variants.close()
