"""The rule alone: which placements would split a local SQLite store across hosts.

Pure (app and topology in, conflicts out), so every case is a topology built
in memory: presets, replicas, autoscaling, variants, settings that name a
PostgreSQL server or a file, and a database URL the placement provides.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import stateful_app

from genweave.app import app as reference
from genweave.deploy.consistency import (
    LocalState,
    StateConflict,
    local_state,
    state_conflicts,
    stateful_components,
)
from genweave.errors import TopologyError
from genweave.topology import PRESETS, Autoscale, Topology, Variant, preset

POSTGRES = "postgresql://genweave@db.internal/genweave"
app = stateful_app.app


def changed(topology: Topology, group: str, **changes: Any) -> Topology:
    return msgspec.structs.replace(topology, groups=tuple(
        msgspec.structs.replace(g, **changes) if g.name == group else g
        for g in topology.groups))


def with_settings(topology: Topology, **settings: dict[str, Any]) -> Topology:
    return msgspec.structs.replace(topology, settings={**topology.settings, **settings})


def groups_in_conflict(topology: Topology, *, of: Any = app,
                       **options: Any) -> list[tuple[str, ...]]:
    return [c.groups for c in state_conflicts(of, topology, multi_host=True, **options)]


def test_a_component_keeps_state_when_its_settings_have_a_database_url() -> None:
    assert stateful_components(app, preset("microservices", app)) == {
        "cache": ("Cache",), "catalog": ("Catalog",), "indexer": ("Indexer",)}  # not Uploads
    assert stateful_components(reference, preset("hybrid", reference)) == {
        "core": ("Ingestor", "Retriever")}
    assert stateful_components(reference, preset("microservices", reference)) == {
        "ingestor": ("Ingestor",), "retriever": ("Retriever",)}


@pytest.mark.parametrize("name", PRESETS)
def test_one_host_is_always_consistent(name: str) -> None:
    """Processes on one machine share one SQLite file (WAL mode): the local deployer's case."""
    topology = changed(preset(name, app), preset(name, app).groups[0].name, replicas=4,
                       variants=(Variant("b"),))
    assert state_conflicts(app, topology, multi_host=False) == []


@pytest.mark.parametrize("name", ["monolith", "hybrid"])
def test_one_replica_of_the_group_holding_the_store_is_consistent(name: str) -> None:
    assert groups_in_conflict(preset(name, reference), of=reference) == []
    assert groups_in_conflict(preset(name, app)) == []


def test_two_groups_sharing_a_data_dir_would_each_have_their_own_file() -> None:
    conflicts = state_conflicts(reference, preset("microservices", reference), multi_host=True)
    assert conflicts == [StateConflict(
        ".genweave-data", ("ingestor", "retriever"), ("Ingestor", "Retriever"),
        ("separate groups never share a replica",))]


def test_the_message_names_the_groups_the_components_and_the_fix() -> None:
    [conflict] = state_conflicts(reference, preset("microservices", reference), multi_host=True)
    assert conflict.message == (
        "groups 'ingestor' and 'retriever' keep state in a local SQLite file under "
        "'.genweave-data' (components 'Ingestor' and 'Retriever') but would run on more than "
        "one host (separate groups never share a replica): each host would have its own file, "
        "so replicas would answer from different data. Keep the state in PostgreSQL "
        "(database_url = \"postgresql://...\" in [components.Ingestor] and "
        "[components.Retriever], or GENWEAVE_DATABASE_URL in every replica's environment), or "
        "place them in one group of one replica, with a persistent volume")
    conflicts = state_conflicts(app, changed(preset("microservices", app), "cache", replicas=2),
                                multi_host=True)
    [alone] = [c for c in conflicts if c.groups == ("cache",)]
    assert alone.message.startswith(
        "group 'cache' keeps state in a local SQLite file (component 'Cache') but would run on "
        "more than one host (group 'cache' has replicas = 2)")
    assert alone.message.endswith("or place it in one group of one replica, with a persistent "
                                  "volume")


@pytest.mark.parametrize(("changes", "reason"), [
    ({"replicas": 3}, "group 'core' has replicas = 3"),
    ({"autoscale": Autoscale(max=4)}, "group 'core' autoscales up to 4 replicas"),
    ({"variants": (Variant("fresh", weight=10),)},
     "group 'core' has a variant 'fresh', with replicas of its own"),
])
def test_more_than_one_replica_of_a_stateful_group_is_a_conflict(
    changes: dict[str, Any], reason: str
) -> None:
    topology = changed(preset("hybrid", reference), "core", **changes)
    [conflict] = state_conflicts(reference, topology, multi_host=True)
    assert (conflict.groups, conflict.components, conflict.reasons) == (
        ("core",), ("Ingestor", "Retriever"), (reason,))


def test_an_autoscaled_group_that_stays_at_one_replica_is_consistent() -> None:
    topology = changed(preset("hybrid", reference), "core", autoscale=Autoscale(min=1, max=1))
    assert groups_in_conflict(topology, of=reference) == []


def test_a_variant_that_moves_its_state_to_postgresql_still_splits_the_group() -> None:
    """The primary's replica answers from its file, the variant's from the server."""
    topology = changed(preset("hybrid", app), "core", variants=(Variant(
        "pg", settings={name: {"database_url": POSTGRES} for name in ("Catalog", "Indexer")}),))
    conflicts = state_conflicts(app, topology, multi_host=True)
    assert [c.components for c in conflicts] == [("Cache",), ("Catalog", "Indexer")]


def test_state_in_postgresql_may_have_any_number_of_replicas() -> None:
    topology = with_settings(
        changed(preset("microservices", app), "catalog", replicas=3,
                variants=(Variant("b", replicas=2),)),
        Catalog={"database_url": POSTGRES}, Indexer={"database_url": POSTGRES},
        Cache={"database_url": "postgres://cache@db/cache"})
    assert groups_in_conflict(topology) == []
    assert local_state(app, topology) == []


def test_a_database_url_the_placement_provides_makes_empty_settings_shared() -> None:
    topology = changed(preset("microservices", app), "catalog", replicas=3)
    assert groups_in_conflict(topology, database_from_env=True) == []
    named = with_settings(topology, Catalog={"database_url": "sqlite:///state/index.db"})
    assert groups_in_conflict(named, database_from_env=True) == [("catalog",)]  # the setting wins


def test_the_askers_own_environment_never_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """GENWEAVE_DATABASE_URL where the rule runs (an export) is not the replicas' environment."""
    monkeypatch.setenv("GENWEAVE_DATABASE_URL", POSTGRES)
    assert groups_in_conflict(preset("microservices", reference), of=reference) == [
        ("ingestor", "retriever")]


def test_stores_are_told_apart_by_their_directory() -> None:
    topology = preset("microservices", app)
    apart = with_settings(topology, Catalog={"data_dir": "catalog"})
    assert groups_in_conflict(apart) == []
    spelt = with_settings(topology, Catalog={"data_dir": "./state/"})
    assert groups_in_conflict(spelt) == [("catalog", "indexer")]
    by_file = with_settings(apart, Indexer={"database_url": "catalog/index.db"})
    assert groups_in_conflict(by_file) == [("catalog", "indexer")]


def test_where_each_component_keeps_local_state() -> None:
    topology = with_settings(preset("hybrid", app), Indexer={"database_url": "sqlite:///x/i.db"})
    assert local_state(app, topology) == [
        LocalState("core", None, "Cache", None),
        LocalState("core", None, "Catalog", "state"),
        LocalState("core", None, "Indexer", "x", "x/i.db"),
    ]
    assert LocalState("core", None, "Cache", None).store == "component Cache"


def test_a_url_genweave_cannot_store_in_names_the_component() -> None:
    topology = with_settings(preset("monolith", app), Cache={"database_url": "mysql://db/x"})
    with pytest.raises(TopologyError, match=r"\[components.Cache\] database_url: unsupported "
                                            r"database URL 'mysql://db/x'"):
        state_conflicts(app, topology, multi_host=True)
