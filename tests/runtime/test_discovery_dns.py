"""DNS discovery with a fake resolver: names, answers, failures, variants, re-resolution.

The real resolver (getaddrinfo answered by a DNS server, search domains and
all) is exercised in tests/deploy/test_worker_dns.py.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from conftest import eventually
from genweave.runtime.discovery.dns import (
    DnsDiscovery,
    answer_addresses,
    service_name,
)
from genweave.runtime.membership import PRIMARY
from genweave.topology import Group, Topology, Variant

TOPOLOGY = Topology("split", (
    Group("core", ("Front", "Store")),
    Group("model", ("Model",), variants=(Variant("canary", weight=20),)),
))
NO_SUCH_NAME = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
TRY_AGAIN = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


class FakeResolver:
    """Answers names from a table the test edits; counts the questions."""

    def __init__(self) -> None:
        self.table: dict[str, list[str] | BaseException] = {}
        self.asked: list[str] = []

    async def __call__(self, name: str) -> list[str]:
        self.asked.append(name)
        answer = self.table.get(name, NO_SUCH_NAME)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest_asyncio.fixture
async def discovery(resolver: FakeResolver) -> AsyncIterator[DnsDiscovery]:
    dns = DnsDiscovery("sample", "test", TOPOLOGY, resolver=resolver, interval=3600.0)
    yield dns
    await dns.close()


def test_a_group_and_a_variant_are_found_by_their_service_names() -> None:
    assert service_name("sample", "model") == "sample-model"
    assert service_name("sample", "model", "canary") == "sample-model-canary"
    dns = DnsDiscovery("sample", "test", TOPOLOGY)
    assert dns.names() == ["sample-core", "sample-model", "sample-model-canary"]


def test_an_answer_gives_addresses_at_the_peer_port_no_such_name_none_a_failure_the_last() -> None:
    last = ["tcp:10.0.0.9:7070"]
    assert answer_addresses(last, ["10.0.0.3", "10.0.0.2", "10.0.0.3"], 7070) == [
        "tcp:10.0.0.2:7070", "tcp:10.0.0.3:7070"]
    assert answer_addresses(last, NO_SUCH_NAME, 7070) == []
    assert answer_addresses(last, TRY_AGAIN, 7070) == last
    assert answer_addresses(last, TimeoutError(), 7070) == last


async def test_resolutions_feed_the_membership_with_variants_as_splits(
    discovery: DnsDiscovery, resolver: FakeResolver,
) -> None:
    resolver.table = {"sample-core": ["10.0.0.2"], "sample-model": ["10.0.0.3", "10.0.0.4"],
                      "sample-model-canary": ["10.0.0.5"]}
    await discovery.resolve()
    membership = discovery.membership
    assert membership.endpoints("core") == ("tcp:10.0.0.2:7070",)
    assert membership.endpoints("model") == ("tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070")
    assert [(s.variant, s.weight, s.addresses) for s in membership.splits["model"]] == [
        (PRIMARY, 80.0, ["tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070"]),
        ("canary", 20.0, ["tcp:10.0.0.5:7070"])]
    assert discovery.synced.is_set()


async def test_a_name_that_stops_resolving_keeps_its_addresses_until_it_does_not_exist(
    discovery: DnsDiscovery, resolver: FakeResolver,
) -> None:
    resolver.table = {"sample-model": ["10.0.0.3"]}
    await discovery.resolve()
    resolver.table["sample-model"] = TRY_AGAIN  # the resolver is down: keep what we know
    await discovery.resolve()
    assert discovery.membership.endpoints("model") == ("tcp:10.0.0.3:7070",)
    resolver.table["sample-model"] = NO_SUCH_NAME  # the Service has no ready pod
    await discovery.resolve()
    assert discovery.membership.endpoints("model") == ()


async def test_a_failed_connection_takes_the_address_out_and_resolves_again_at_once(
    discovery: DnsDiscovery, resolver: FakeResolver,
) -> None:
    resolver.table = {"sample-model": ["10.0.0.3", "10.0.0.4"]}
    await discovery.start()
    await eventually(lambda: discovery.membership.endpoints("model"))
    asked = len(resolver.asked)
    discovery.unreachable("tcp:10.0.0.4:7070")
    assert discovery.membership.endpoints("model") == ("tcp:10.0.0.3:7070",)  # at once
    # ... and the names are asked again now, not after the hour-long interval.
    await eventually(lambda: len(resolver.asked) > asked, 5)
    resolver.table["sample-model"] = ["10.0.0.3"]  # Kubernetes dropped the dead pod
    await discovery.resolve()
    resolver.table["sample-model"] = ["10.0.0.3", "10.0.0.4"]  # a new pod got its address
    await discovery.resolve()
    assert discovery.membership.endpoints("model") == ("tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070")


async def test_names_are_resolved_again_every_interval(resolver: FakeResolver) -> None:
    resolver.table = {"sample-model": ["10.0.0.3"]}
    dns = DnsDiscovery("sample", "test", TOPOLOGY, resolver=resolver, interval=0.05)
    await dns.start()
    try:
        await eventually(lambda: dns.membership.endpoints("model"))
        resolver.table["sample-model"] = ["10.0.0.3", "10.0.0.4"]
        await eventually(lambda: len(dns.membership.endpoints("model")) == 2, 5)
    finally:
        await dns.close()


async def test_closing_stops_resolving(resolver: FakeResolver) -> None:
    dns = DnsDiscovery("sample", "test", TOPOLOGY, resolver=resolver, interval=0.01)
    await dns.start()
    await eventually(lambda: len(resolver.asked) >= 6)
    await dns.close()
    asked = len(resolver.asked)
    await asyncio.sleep(0)
    assert len(resolver.asked) == asked
