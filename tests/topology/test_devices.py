"""Which GPUs each local replica sees: distinct devices per replica, wrapping past the count."""

from __future__ import annotations

import pytest

from genweave import TopologyError
from genweave.topology import GpuPlan, Group, Resources, Topology, Variant

TOPOLOGY = Topology("t", (
    Group("core", ("Front",)),
    Group("model", ("Model",), replicas=2, resources=Resources(gpus=2)),
    Group("image", ("Image",), resources=Resources(gpus=1),
          variants=(Variant("b", weight=10),)),
))


def test_by_default_each_replica_gets_its_own_devices_as_many_as_asked() -> None:
    plan = GpuPlan(TOPOLOGY)
    assert plan.count == 2 * 2 + 1 * 2  # model: 2 replicas x 2; image: primary + variant
    assert plan.devices("core", 0) == ()
    assert plan.devices("model", 0) == (0, 1)  # replica i: i*g .. i*g+g-1
    assert plan.devices("model", 1) == (2, 3)
    assert plan.devices("image", 0) == (4,)  # after the groups before it
    assert plan.devices("image", 1) == (5,)  # the variant's replica


def test_replicas_added_later_share_devices_instead_of_naming_missing_ones() -> None:
    plan = GpuPlan(TOPOLOGY)
    assert plan.devices("model", 3) == (0, 1)  # e.g. a rollout's new replica beside the old
    assert set(plan.devices("image", 7)) <= set(range(plan.count))


def test_a_machine_with_fewer_devices_wraps_around() -> None:
    plan = GpuPlan(TOPOLOGY, count=2)
    assert plan.devices("model", 0) == (0, 1)
    assert plan.devices("model", 1) == (0, 1)
    assert plan.devices("image", 0) == (0,)


def test_a_replica_cannot_ask_for_more_devices_than_the_machine_has() -> None:
    with pytest.raises(TopologyError, match=r"group 'model' asks for 2 GPUs per replica, but "
                       r"only 1 can be handed out \(set GENWEAVE_GPU_COUNT"):
        GpuPlan(TOPOLOGY, count=1)
