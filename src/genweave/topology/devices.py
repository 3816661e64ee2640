"""Which GPUs each replica gets on one machine: the local deployer's rule.

Kubernetes and Ray hand out devices themselves; on one machine something must
say which device indices a replica sees (``CUDA_VISIBLE_DEVICES``).  The rule
is pure, so it is tested alone and the deployer only applies it:

- groups that ask for GPUs take consecutive ranges in topology order, each as
  large as ``gpus`` x (its replicas + its variants' replicas);
- replica ``i`` of a group with ``gpus = g`` gets ``g`` distinct devices,
  ``base + i*g .. base + i*g + g - 1`` (one group alone: ``i*g .. i*g + g - 1``);
- every index is taken modulo the machine's device count, so replicas added
  later (a scale-up, a rollout's new replicas beside the old) share devices
  with earlier ones instead of naming devices that do not exist.

The device count is what the machine has (``GENWEAVE_GPU_COUNT`` or the
deployer's option) and, when nobody says, exactly what the topology asks for.
"""

from __future__ import annotations

from typing import Final

from genweave.errors import TopologyError
from genweave.topology.model import Topology

__all__ = ["GPU_COUNT_ENV", "GpuPlan"]

GPU_COUNT_ENV: Final = "GENWEAVE_GPU_COUNT"
"""How many GPUs the local deployer may hand out (default: as many as the topology asks)."""


class GpuPlan:
    """The devices of each replica of ``topology`` on a machine with ``count`` GPUs.

    Example::

        plan = GpuPlan(topology)                 # count: what the topology asks for
        plan.devices("generator", 1)             # (1,) for gpus = 1
    """

    def __init__(self, topology: Topology, count: int | None = None) -> None:
        self._gpus = {g.name: g.resources.gpus for g in topology.groups}
        self._base: dict[str, int] = {}
        asked = 0
        for group in topology.groups:
            self._base[group.name] = asked
            replicas = group.replicas + sum(v.replicas for v in group.variants)
            asked += group.resources.gpus * replicas
        self.count = asked if count is None else count
        for group in topology.groups:
            if group.resources.gpus > self.count:
                raise TopologyError(
                    f"group '{group.name}' asks for {group.resources.gpus} GPUs per replica, "
                    f"but only {self.count} can be handed out (set {GPU_COUNT_ENV} to the "
                    "number of GPUs this machine has)")

    def devices(self, group: str, replica: int) -> tuple[int, ...]:
        """Device indices for replica number ``replica`` of ``group``; empty if it needs none."""
        gpus = self._gpus[group]
        first = self._base[group] + replica * gpus
        return tuple((first + k) % self.count for k in range(gpus))
