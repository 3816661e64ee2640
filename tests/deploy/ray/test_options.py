"""The rule from a group's resources to a Ray actor's options, alone (no Ray)."""

from __future__ import annotations

import msgspec
import pytest

from genweave.deploy.ray.options import actor_options, check_resources
from genweave.errors import TopologyError
from genweave.topology import Group, Resources, Topology


def group(**resources: object) -> Group:
    return Group("model", ("Model",), resources=Resources(**resources))  # type: ignore[arg-type]


def test_a_group_without_resources_asks_only_to_be_spread_and_restarted() -> None:
    assert actor_options(group(), {}) == {
        "num_cpus": 0, "scheduling_strategy": "SPREAD", "max_restarts": -1}


def test_cpus_gpus_memory_and_custom_resources_become_the_actors() -> None:
    options = actor_options(group(cpus=0.5, gpus=1, memory="512Mi"), {"model": {"gpu_node": 1}},
                            max_restarts=3)
    assert options == {"num_cpus": 0.5, "num_gpus": 1, "memory": 512 * 2**20,
                       "resources": {"gpu_node": 1.0}, "scheduling_strategy": "SPREAD",
                       "max_restarts": 3}


def test_the_topologys_ray_resources_are_the_actors_and_the_deployers_option_wins() -> None:
    declared = msgspec.structs.replace(group(), ray_resources={"gpu_node": 1.0, "zone": 1.0})
    assert actor_options(declared, {"model": {"zone": 2}})["resources"] == {
        "gpu_node": 1.0, "zone": 2.0}


def topology() -> Topology:
    return msgspec.convert({"name": "t", "groups": [{"name": "model", "components": ["Model"]}]},
                           Topology)


@pytest.mark.parametrize(("resources", "message"), [
    ({"modle": {"x": 1}}, "group 'modle': the topology has no such group"),
    ({"model": {"GPU": 1}}, "'GPU' is Ray's own; declare cpus, gpus and memory"),
    ({"model": {"x": 0}}, "x = 0; expected a positive number"),
    ({"model": {"x": float("inf")}}, "x = inf; expected a positive number"),
])
def test_what_ray_cannot_take_is_refused_naming_the_group(
    resources: dict[str, dict[str, float]], message: str,
) -> None:
    with pytest.raises(TopologyError, match=message):
        check_resources(topology(), resources)
