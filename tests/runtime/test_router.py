"""The router's one retry loop, seen from a replica: how many tries, when, and within what.

A retry policy promises three things for unary calls and streams alike: ``attempts = N``
means at most N tries, every retry waits the policy's backoff first, and one deadline
covers the call across all its tries.  An ``Overloaded`` refusal is the exception to the
backoff: it is retried at once, on another replica, never on the one that refused.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from genweave import DeadlineExceeded, Overloaded, Unavailable, component
from genweave.component import spec_of
from genweave.resilience import RetryPolicy
from genweave.runtime.callee import Callee
from genweave.runtime.membership import Membership
from genweave.runtime.refs import ComponentProxy, remote_proxy
from genweave.runtime.router import Router
from genweave.transport.endpoints import listen, memory_servers

BACKOFF = 0.05
"""Seconds of the test policy's backoff: long enough to see, short enough to wait for."""
_names = itertools.count()


@dataclass(frozen=True, slots=True)
class FixedBackoff(RetryPolicy):
    """A policy whose backoff is always ``BACKOFF``: no jitter to blur the measurement."""

    def delay(self, attempt: int) -> float:
        return BACKOFF


@component(name="Refuser")
class Refuser:
    """A replica that refuses its next ``refusals`` calls, each after ``slowness`` seconds."""

    def __init__(self) -> None:
        self.refusals = 0
        self.slowness = 0.0
        self.tries: list[float] = []
        """When each call arrived (loop time)."""

    def _arrived(self) -> None:
        self.tries.append(asyncio.get_running_loop().time())

    async def _maybe_refuse(self) -> None:
        if self.slowness:
            await asyncio.sleep(self.slowness)
        if self.refusals:
            self.refusals -= 1
            raise Unavailable("not now")

    async def ping(self) -> str:
        self._arrived()
        await self._maybe_refuse()
        return "pong"

    async def items(self) -> AsyncIterator[int]:
        self._arrived()
        await self._maybe_refuse()
        for i in range(3):
            yield i


class Cluster:
    """In-memory replicas of group ``g`` and the routers that call them."""

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.callees: list[Callee] = []
        self.routers: list[Router] = []

    async def serve(self, instance: object, max_in_flight: int | None = None) -> None:
        address = f"memory:router-test-{next(_names)}"
        spec = spec_of(type(instance))
        limits = {} if max_in_flight is None else {"max_in_flight": max_in_flight}
        callee = Callee("retry", address, {spec.name: (instance, spec)}, **limits)
        await listen(address, callee)
        self.addresses.append(address)
        self.callees.append(callee)

    async def refusers(self, n: int = 1, max_in_flight: int | None = None) -> list[Refuser]:
        found = [Refuser() for _ in range(n)]
        for refuser in found:
            await self.serve(refuser, max_in_flight)
        return found

    def refused(self) -> list[int]:
        """Calls each replica refused as overloaded."""
        return [callee.admission.refused for callee in self.callees]

    def ref(self, retry: RetryPolicy, timeout: float | None = None) -> ComponentProxy:
        """A Ref to ``Refuser`` through a new router that knows every replica served so far."""
        router = Router("retry", "client", Membership({"g": self.addresses}), ready_wait=0)
        self.routers.append(router)
        return remote_proxy(spec_of(Refuser), router, "g", "client", timeout, retry)

    async def close(self) -> None:
        for router in self.routers:
            await router.close()
        for address in self.addresses:
            memory_servers.pop(address.partition(":")[2], None)


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    cluster = Cluster()
    yield cluster
    await cluster.close()


async def warm(proxy: ComponentProxy, refuser: Refuser) -> None:
    """One successful call first, so the router holds an open connection to the replica."""
    assert await proxy.ping() == "pong"  # type: ignore[attr-defined]
    refuser.tries.clear()


async def collect(proxy: ComponentProxy) -> list[int]:
    return [i async for i in proxy.items()]  # type: ignore[attr-defined]


@pytest.mark.parametrize("attempts", [1, 2, 3])
async def test_attempts_bound_the_tries_a_replica_sees(
    cluster: Cluster, attempts: int
) -> None:
    [refuser] = await cluster.refusers()
    proxy = cluster.ref(RetryPolicy(attempts=attempts, base_delay=0.001))
    await warm(proxy, refuser)
    refuser.refusals = 10
    with pytest.raises(Unavailable, match="not now"):
        await proxy.ping()  # type: ignore[attr-defined]
    assert len(refuser.tries) == attempts


@pytest.mark.parametrize("attempts", [1, 3])
async def test_attempts_bound_the_tries_of_a_stream(
    cluster: Cluster, attempts: int
) -> None:
    [refuser] = await cluster.refusers()
    proxy = cluster.ref(RetryPolicy(attempts=attempts, base_delay=0.001))
    await warm(proxy, refuser)
    refuser.refusals = 10
    with pytest.raises(Unavailable, match="not now"):
        await collect(proxy)
    assert len(refuser.tries) == attempts


async def test_a_refusal_is_retried_until_one_try_succeeds(
    cluster: Cluster
) -> None:
    [refuser] = await cluster.refusers()
    proxy = cluster.ref(FixedBackoff(attempts=3))
    await warm(proxy, refuser)
    refuser.refusals = 2
    assert await proxy.ping() == "pong"  # type: ignore[attr-defined]
    refuser.refusals = 2
    assert await collect(proxy) == [0, 1, 2]
    assert len(refuser.tries) == 6


@pytest.mark.parametrize("kind", ["call", "stream"])
async def test_every_retry_waits_for_the_policys_backoff(
    cluster: Cluster, kind: str
) -> None:
    [refuser] = await cluster.refusers()
    proxy = cluster.ref(FixedBackoff(attempts=3))
    await warm(proxy, refuser)
    refuser.refusals = 10
    with pytest.raises(Unavailable):
        await (proxy.ping() if kind == "call" else collect(proxy))  # type: ignore[attr-defined]
    gaps = [b - a for a, b in itertools.pairwise(refuser.tries)]
    assert len(gaps) == 2
    assert all(gap >= BACKOFF * 0.9 for gap in gaps), gaps


@pytest.mark.parametrize("kind", ["call", "stream"])
async def test_one_deadline_covers_every_try(
    cluster: Cluster, kind: str
) -> None:
    [refuser] = await cluster.refusers()
    proxy = cluster.ref(RetryPolicy(attempts=10, base_delay=0.001), timeout=0.5)
    await warm(proxy, refuser)
    refuser.refusals, refuser.slowness = 10, 0.3  # each try takes 0.3 s, then is refused
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(DeadlineExceeded):
        await (proxy.ping() if kind == "call" else collect(proxy))  # type: ignore[attr-defined]
    assert loop.time() - start < 0.5 + 0.15
    assert len(refuser.tries) == 2  # the second try was cut off by the deadline


@pytest.mark.parametrize("kind", ["call", "stream"])
async def test_an_overloaded_replica_is_passed_over_at_once(
    cluster: Cluster, kind: str
) -> None:
    busy, idle = await cluster.refusers(1, max_in_flight=0) + await cluster.refusers()
    proxy = cluster.ref(FixedBackoff(attempts=3))
    loop = asyncio.get_running_loop()
    for _ in range(4):  # whichever replica is tried first, the call ends on the idle one
        start = loop.time()
        result = await (proxy.ping() if kind == "call" else collect(proxy))  # type: ignore[attr-defined]
        assert result in ("pong", [0, 1, 2])
        assert loop.time() - start < BACKOFF  # no backoff before trying the other replica
    assert busy.tries == [] and len(idle.tries) == 4


@pytest.mark.parametrize("kind", ["call", "stream"])
async def test_an_overloaded_replica_is_never_asked_again_within_one_call(
    cluster: Cluster, kind: str
) -> None:
    await cluster.refusers(2, max_in_flight=0)
    proxy = cluster.ref(FixedBackoff(attempts=5))
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(Overloaded, match="replica is at its limit of 0 calls in flight"):
        await (proxy.ping() if kind == "call" else collect(proxy))  # type: ignore[attr-defined]
    assert loop.time() - start < BACKOFF
    assert cluster.refused() == [1, 1]  # each replica refused once, then the call gave up


async def test_a_stream_is_not_retried_once_items_have_arrived(
    cluster: Cluster
) -> None:
    @component(name="Refuser")
    class Breaking:
        def __init__(self) -> None:
            self.calls = 0

        async def ping(self) -> str:
            return "pong"

        async def items(self) -> AsyncIterator[int]:
            self.calls += 1
            yield 0
            raise Unavailable("gone mid-stream")

    breaking = Breaking()
    await cluster.serve(breaking)
    received: list[int] = []
    with pytest.raises(Unavailable, match="gone mid-stream"):
        async for item in cluster.ref(FixedBackoff(attempts=3)).items():  # type: ignore[attr-defined]
            received.append(item)
    assert received == [0] and breaking.calls == 1
