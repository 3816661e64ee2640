"""The topology model: lookups, limits, variant shares and the one-line group summary."""

from __future__ import annotations

import msgspec
import pytest

from genweave import TopologyError
from genweave.topology import (
    DEFAULT_MAX_IN_FLIGHT,
    Autoscale,
    Group,
    Resources,
    Topology,
    Variant,
)

MODEL = Group("model", ("Model",), replicas=2, max_in_flight=8,
              autoscale=Autoscale(max=4, target_in_flight=2),
              variants=(Variant("b", weight=10), Variant("c", weight=5),
                        Variant("s", shadow=True, sample=25)))
TOPOLOGY = Topology("t", (Group("core", ("Front", "Store")), MODEL))


def test_lookups_by_group_and_by_component() -> None:
    assert TOPOLOGY.group("model") is MODEL
    assert TOPOLOGY.group_of("Store").name == "core"
    with pytest.raises(TopologyError, match="topology 't' has no group 'modle'"):
        TOPOLOGY.group("modle")
    with pytest.raises(TopologyError, match="topology 't': component 'Nope' is in no group"):
        TOPOLOGY.group_of("Nope")


def test_limits_are_each_groups_max_in_flight() -> None:
    assert TOPOLOGY.limits() == {"core": DEFAULT_MAX_IN_FLIGHT, "model": 8}


def test_the_primary_takes_what_weighted_variants_leave() -> None:
    assert MODEL.primary_weight == 85.0  # the shadow takes copies, not a share
    assert MODEL.variant("c").weight == 5
    with pytest.raises(TopologyError, match="group 'model' has no variant 'd'"):
        MODEL.variant("d")


def test_describe_summarises_the_options_that_differ_from_defaults() -> None:
    assert MODEL.describe() == ("autoscale 1-4 at 2 in flight/replica; max 8 in flight/replica; "
                                "variant b (10%, x1); variant c (5%, x1); "
                                "variant s (shadow of 25%, x1)")
    assert TOPOLOGY.group("core").describe() == ""


def test_a_topology_travels_as_data() -> None:
    wire = msgspec.json.encode(TOPOLOGY)
    assert msgspec.json.decode(wire, type=Topology) == TOPOLOGY
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"max": 2, "maxx": 3}, Autoscale)


def test_describe_shows_resources_http_and_extras() -> None:
    group = Group("g", ("Model",), resources=Resources(cpus=2, memory="4Gi", gpus=1),
                  expose=(8000,), extras=("models",))
    assert group.describe() == "cpus 2, memory 4Gi, 1 GPU; HTTP on 8000; extras models"
    assert Group("g", ("Model",), expose=()).describe() == "no HTTP"
