"""What every discovery shares: a failed connection takes a replica out, a probe brings it back.

Replicas here are real callees on ``memory:`` addresses (the real client,
server and handshake, no sockets); taking one off the table of memory servers
is a replica that stopped answering.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator

import pytest_asyncio

from conftest import eventually
from genweave import App, Unavailable, component
from genweave.component import spec_of
from genweave.runtime.callee import Callee
from genweave.runtime.discovery import StaticDiscovery
from genweave.runtime.refs import remote_proxy
from genweave.runtime.router import Router
from genweave.topology import Group, Topology
from genweave.transport.endpoints import memory_servers

_names = itertools.count()


@component(name="Counter")
class Counter:
    def __init__(self) -> None:
        self.name = ""
        self.draining = False

    async def who(self) -> str:
        if self.draining:
            raise Unavailable("draining")
        return self.name


APP = App("discovery-test", [Counter])


class Replicas:
    """Two replicas of group ``counter`` on memory addresses, a static discovery and a router."""

    def __init__(self) -> None:
        run = next(_names)
        self.addresses = [f"memory:discovery-{run}-{i}" for i in range(2)]
        self.counters: dict[str, Counter] = {}
        self.callees: dict[str, Callee] = {}
        for address in self.addresses:
            counter = self.counters[address] = Counter()
            counter.name = address
            self.callees[address] = Callee(APP.name, address,
                                           {"Counter": (counter, spec_of(Counter))})
            self.serve(address)
        topology = Topology("t", (Group("counter", ("Counter",),
                                        addresses=tuple(self.addresses)),))
        self.discovery = StaticDiscovery(APP.name, "test", topology, environ={},
                                         probe_interval=0.05)
        self.told: list[str] = []
        self.router = Router(APP.name, "test", self.discovery.membership, ready_wait=0.5,
                             on_unreachable=self.unreachable)
        self.proxy = remote_proxy(spec_of(Counter), self.router, "counter", "test")

    def unreachable(self, address: str) -> None:
        self.told.append(address)
        self.discovery.unreachable(address)

    def serve(self, address: str) -> None:
        memory_servers[address.partition(":")[2]] = self.callees[address]

    def silence(self, address: str) -> None:
        memory_servers.pop(address.partition(":")[2], None)

    def members(self) -> tuple[str, ...]:
        return self.discovery.membership.endpoints("counter")


@pytest_asyncio.fixture
async def replicas() -> AsyncIterator[Replicas]:
    replicas = Replicas()
    await replicas.discovery.start()
    try:
        yield replicas
    finally:
        await replicas.router.close()
        await replicas.discovery.close()
        for address in replicas.addresses:
            replicas.silence(address)


async def test_a_replica_that_does_not_answer_leaves_at_the_first_failed_connection(
    replicas: Replicas,
) -> None:
    alive, dead = replicas.addresses
    replicas.silence(dead)
    answers = [await replicas.proxy.who() for _ in range(6)]
    assert answers == [alive] * 6  # the failed try was retried on the other replica
    assert replicas.told == [dead]  # one failed connection, then no call went there again
    assert replicas.members() == (alive,)


async def test_a_replica_that_answers_again_rejoins_within_a_probe_interval(
    replicas: Replicas,
) -> None:
    alive, dead = replicas.addresses
    replicas.silence(dead)
    while dead in replicas.members():
        await replicas.proxy.who()
    assert await replicas.proxy.who() == alive
    replicas.serve(dead)
    await eventually(lambda: replicas.members() == (alive, dead), 2,
                     what="the replica back in the set")
    answers = {await replicas.proxy.who() for _ in range(6)}
    assert answers == {alive, dead}


async def test_a_refusal_over_an_open_connection_is_no_failed_connection(
    replicas: Replicas,
) -> None:
    first, second = replicas.addresses
    replicas.counters[first].draining = True
    answers = {await replicas.proxy.who() for _ in range(6)}
    assert answers == {second}  # refused calls were retried on the other replica
    assert replicas.told == []
    assert replicas.members() == (first, second)


async def test_every_replica_out_means_callers_wait_for_one_to_answer(
    replicas: Replicas,
) -> None:
    for address in replicas.addresses:
        replicas.silence(address)
    while replicas.members():
        with contextlib.suppress(Unavailable):
            await replicas.proxy.who()
    replicas.serve(replicas.addresses[1])
    # The call waits for membership (ready_wait) and the probe lets it through.
    assert await replicas.proxy.who() == replicas.addresses[1]
