"""What Ray is asked for when it starts a replica: the rule, apart from any call into Ray.

A group's resources become the actor's (``cpus`` -> ``num_cpus``, ``gpus`` ->
``num_gpus``, ``memory`` -> ``memory`` in bytes), plus custom resources (a
node label such as ``{"gpu_node": 1}``): the group's ``ray_resources`` in the
topology, and per group from the deployer's ``resources`` option, which wins.  A
group that declares no CPUs asks for none, so that a small cluster can host
more replicas than it has cores (as the local supervisor does); Ray then only
places it.  Replicas of one group are spread over nodes (``SPREAD``), and Ray
restarts a replica whose process died (``max_restarts``), re-running its
constructor: the replica hosts its group again and joins membership again.

Example::

    actor_options(topology.group("model"), {"model": {"gpu_node": 1}}, max_restarts=-1)
    # {"num_cpus": 0, "num_gpus": 1, "resources": {"gpu_node": 1.0}, ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from genweave.errors import TopologyError
from genweave.topology import Group, Topology
from genweave.topology.resources import ray_resource_problem

__all__ = ["RESTART_FOREVER", "SPREAD", "actor_options", "check_resources"]

RESTART_FOREVER: Final = -1
"""``max_restarts`` meaning: restart a dead replica every time (Ray's convention)."""
SPREAD: Final = "SPREAD"
"""Ray's scheduling strategy that places the replicas of one group on different nodes."""


def actor_options(group: Group, resources: Mapping[str, Mapping[str, float]],
                  max_restarts: int = RESTART_FOREVER) -> dict[str, Any]:
    """The options of ``ray.remote(...).options(...)`` for one replica of ``group``."""
    options: dict[str, Any] = {
        "num_cpus": group.resources.cpus or 0,
        "scheduling_strategy": SPREAD,
        "max_restarts": max_restarts,
    }
    if group.resources.gpus:
        options["num_gpus"] = group.resources.gpus
    if group.resources.memory_bytes is not None:
        options["memory"] = group.resources.memory_bytes
    custom = {**group.ray_resources, **resources.get(group.name, {})}
    if custom:
        options["resources"] = {name: float(amount) for name, amount in custom.items()}
    return options


def check_resources(topology: Topology, resources: Mapping[str, Mapping[str, float]]) -> None:
    """Refuse custom resources for a group that does not exist, or amounts Ray cannot take."""
    known = {group.name for group in topology.groups}
    for group, table in resources.items():
        if group not in known:
            raise TopologyError(f"Ray resources for group '{group}': the topology has no such "
                                f"group (it has {', '.join(sorted(known))})")
        for name, amount in table.items():
            problem = ray_resource_problem(name, amount)
            if problem is not None:
                raise TopologyError(f"Ray resources for group '{group}': {problem}")
