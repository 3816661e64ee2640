"""Static discovery: addresses from the topology or the environment, and what a caller needs."""

from __future__ import annotations

import pytest

from genweave.errors import TopologyError
from genweave.runtime.discovery.static import StaticDiscovery, addresses_env, static_addresses
from genweave.topology import Group, Topology

TOPOLOGY = Topology("vms", (
    Group("core", ("Front", "Store"), addresses=("tcp:10.0.0.2:7070",)),
    Group("model-a", ("Model",)),
))


def test_the_environment_names_each_group_in_capitals() -> None:
    assert addresses_env("core") == "GENWEAVE_ADDRESSES_CORE"
    assert addresses_env("model-a") == "GENWEAVE_ADDRESSES_MODEL_A"


def test_the_environment_wins_over_the_topology_file() -> None:
    assert static_addresses(TOPOLOGY, {}) == {"core": ["tcp:10.0.0.2:7070"], "model-a": []}
    environ = {"GENWEAVE_ADDRESSES_MODEL_A": "tcp:10.0.0.3:7070, tcp:10.0.0.4:7070,",
               "GENWEAVE_ADDRESSES_CORE": "tcp:10.0.0.9:7070"}
    assert static_addresses(TOPOLOGY, environ) == {
        "core": ["tcp:10.0.0.9:7070"], "model-a": ["tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070"]}


async def test_the_listed_addresses_are_the_membership_from_the_start() -> None:
    static = StaticDiscovery("sample", "test", TOPOLOGY,
                             environ={"GENWEAVE_ADDRESSES_MODEL_A": "tcp:10.0.0.3:7070"})
    await static.start()
    try:
        assert static.membership.endpoints("core") == ("tcp:10.0.0.2:7070",)
        assert static.membership.endpoints("model-a") == ("tcp:10.0.0.3:7070",)
        assert static.synced.is_set()
    finally:
        await static.close()


def test_a_called_group_without_addresses_is_an_error_that_says_where_to_list_them() -> None:
    static = StaticDiscovery("sample", "test", TOPOLOGY, environ={})
    static.require(["core"], "group 'model-a'")
    with pytest.raises(TopologyError, match=(
            r"static discovery: group 'model-a' has no address, and group 'core' calls it; "
            r"list its replicas as \[groups.model-a\] addresses = .* or in "
            r"GENWEAVE_ADDRESSES_MODEL_A=tcp:HOST:PORT")):
        static.require(["core", "model-a"], "group 'core'")
