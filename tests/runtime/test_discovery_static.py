"""Static discovery: addresses from the topology file or the environment, what a caller needs,
and the runtime a replica without supervisor reports from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sample_app

from genweave.errors import TopologyError
from genweave.runtime.discovery import DiscoveredRuntime
from genweave.runtime.discovery.static import StaticDiscovery, addresses_env, static_addresses
from genweave.runtime.router import Router
from genweave.topology import Group, Topology, load_topology, render_toml

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


def test_a_topology_file_lists_addresses_and_writes_them_back(tmp_path: Path) -> None:
    path = tmp_path / "vms.toml"
    path.write_text('preset = "hybrid"\n[groups.model]\nreplicas = 2\n'
                    'addresses = ["tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070"]\n')
    topology = load_topology(path, sample_app.app)
    assert topology.group("model").addresses == ("tcp:10.0.0.3:7070", "tcp:10.0.0.4:7070")
    assert "at tcp:10.0.0.3:7070, tcp:10.0.0.4:7070" in topology.group("model").describe()
    again = tmp_path / "again.toml"
    again.write_text(render_toml(topology))
    assert load_topology(again, sample_app.app).group("model") == topology.group("model")


@pytest.mark.parametrize(("addresses", "message"), [
    ('["10.0.0.3:7070"]', "'10.0.0.3:7070' is not an address a replica serves at; write "
                          "'tcp:HOST:PORT' (e.g. 'tcp:10.0.0.2:7070') or 'unix:PATH'"),
    ('["tcp:10.0.0.3:http"]', "'tcp:10.0.0.3:http' is not an address"),
    ('["tcp:10.0.0.3:70000"]', "'tcp:10.0.0.3:70000' is not an address"),
    ('["tcp:a:1", "tcp:a:1"]', "an address is listed twice"),
])
def test_an_address_a_replica_cannot_serve_at_is_refused_naming_the_group(
    tmp_path: Path, addresses: str, message: str,
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'preset = "hybrid"\n[groups.model]\naddresses = {addresses}\n')
    with pytest.raises(TopologyError, match=re.escape(f"[groups.model] addresses: {message}")):
        load_topology(path, sample_app.app)


async def test_the_runtime_of_a_replica_without_supervisor_reports_what_discovery_lists() -> None:
    static = StaticDiscovery("sample", "test", TOPOLOGY,
                             environ={"GENWEAVE_ADDRESSES_MODEL_A": "tcp:10.0.0.3:7070"})
    router = Router("sample", "test", static.membership)
    runtime = DiscoveredRuntime(sample_app.app, TOPOLOGY, "test", static, router)
    assert not (await runtime.status()).ready()  # nothing listed before it starts
    await static.start()
    try:
        status = await runtime.status()
        assert [(r.group, r.state) for r in status.replicas] == [("core", "ready"),
                                                                 ("model-a", "ready")]
        assert status.ready()
        static.unreachable("tcp:10.0.0.3:7070")
        assert [r.state for r in (await runtime.status()).replicas] == ["ready", "starting"]
    finally:
        await router.close()
        await static.close()
