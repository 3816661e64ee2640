"""The topology model: groups of components, how each group runs, and its experiments.

These are plain frozen Structs, so a topology travels to worker processes as
data (``WorkerSpec``) and compares by value.  Building one from a preset or a
file, and checking it against an app, live beside this module.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec

from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.errors import TopologyError
from genweave.resilience import RefPolicy
from genweave.topology.resources import Resources

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "PRIMARY_VARIANT",
    "Autoscale",
    "Count",
    "Group",
    "Port",
    "SamplePercent",
    "Topology",
    "Transport",
    "Variant",
    "WeightPercent",
]

Transport = Literal["unix", "tcp"]
DEFAULT_MAX_IN_FLIGHT: Final = 1024
"""Calls one replica runs at once by default; beyond it calls are refused (Overloaded).

A count, not a time: a group whose calls are slow (a model) should set its own,
about the calls it can finish within the latency its callers accept.
"""

PRIMARY_VARIANT: Final = "primary"
"""How experiments name a group's own version (``genweave.runtime.membership.PRIMARY``)."""

Count = Annotated[int, msgspec.Meta(ge=1)]
"""A count of at least one (replicas, calls in flight)."""
WeightPercent = Annotated[float, msgspec.Meta(ge=0, le=100)]
"""The percent of calls a variant takes."""
SamplePercent = Annotated[float, msgspec.Meta(gt=0, le=100)]
"""The percent of calls a shadow variant gets a copy of."""
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
"""A TCP port number."""
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class Autoscale(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Follow measured load: ``ceil(in-flight calls / target_in_flight)`` replicas.

    A change must be wanted for ``up_delay`` (growing) or ``down_delay``
    (shrinking) seconds before it happens, so bursts do not make replicas flap.
    """

    max: Count
    min: Count = 1
    target_in_flight: Annotated[float, msgspec.Meta(gt=0)] = 4.0
    up_delay: _Seconds = 2.0
    down_delay: _Seconds = 30.0
    interval: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    """Seconds between load samples."""


class Variant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Another version of a group's components, run beside the primary one.

    ``weight`` percent of calls go to it, chosen per user (or API key) so a
    user stays on one variant; a ``shadow`` variant instead gets a copy of
    calls, whose result is discarded: of every call, or of ``sample`` percent.
    """

    name: str
    replicas: Count = 1
    weight: WeightPercent = 0.0
    shadow: bool = False
    sample: SamplePercent = 100.0
    """Percent of calls a shadow variant gets a copy of (an expensive candidate needs few)."""
    settings: dict[str, dict[str, Any]] = {}
    """Component name -> settings that replace the primary's ``[components.NAME]`` keys."""


class Group(msgspec.Struct, frozen=True):
    """Components that share one process, run as ``replicas`` identical processes.

    ``resources`` is what each replica (of every variant) needs from its
    machine.  ``expose`` lists the HTTP ports the group serves to the outside
    (``None``: found from its components' ``port`` settings, see
    ``genweave.deploy.kubernetes``); ``extras`` names the installable extras of
    the app's package that its components need (``models`` for torch).
    ``addresses`` lists where its replicas serve calls, for static discovery
    (``genweave worker --discovery static``), e.g. ``("tcp:10.0.0.2:7070",)``.
    ``ray_resources`` are custom Ray resources each replica needs on the Ray
    placement (``{"gpu_node": 1}``: only nodes that declare one), ignored elsewhere.
    """

    name: str
    components: tuple[str, ...]
    replicas: int = 1
    version: str = "1"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    autoscale: Autoscale | None = None
    variants: tuple[Variant, ...] = ()
    resources: Resources = Resources()
    expose: tuple[int, ...] | None = None
    extras: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    ray_resources: dict[str, float] = {}

    @property
    def primary_weight(self) -> float:
        """Percent of calls the primary version takes: what the variants leave."""
        return 100.0 - sum(v.weight for v in self.variants if not v.shadow)

    def describe(self) -> str:
        """A one-line summary of the group's options, for ``genweave topology`` and status."""
        parts = []
        if self.resources.describe():
            parts.append(self.resources.describe())
        if self.autoscale is not None:
            a = self.autoscale
            parts.append(f"autoscale {a.min}-{a.max} at {a.target_in_flight:g} in flight/replica")
        if self.max_in_flight != DEFAULT_MAX_IN_FLIGHT:
            parts.append(f"max {self.max_in_flight} in flight/replica")
        for v in self.variants:
            share = f"shadow of {v.sample:g}%" if v.shadow else f"{v.weight:g}%"
            parts.append(f"variant {v.name} ({share}, x{v.replicas})")
        if self.expose is not None:
            ports = ", ".join(str(p) for p in self.expose)
            parts.append(f"HTTP on {ports}" if ports else "no HTTP")
        if self.extras:
            parts.append(f"extras {', '.join(self.extras)}")
        if self.addresses:
            parts.append(f"at {', '.join(self.addresses)}")
        return "; ".join(parts)

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise TopologyError(f"group '{self.name}' has no variant '{name}'")


class Topology(msgspec.Struct, frozen=True):
    """A validated mapping of components to groups."""

    name: str
    groups: tuple[Group, ...]
    transport: Transport = "unix"
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    settings: dict[str, dict[str, Any]] = {}
    """Per-component settings (``[components.NAME]`` tables), validated against the app."""
    refs: dict[str, RefPolicy] = {}
    """Isolation policies: ``"Target"`` (every Ref to it) or ``"Caller.attribute"`` (one Ref)."""

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise TopologyError(f"topology '{self.name}' has no group '{name}'")

    def limits(self) -> dict[str, int]:
        """Group name -> ``max_in_flight``: what routers hold their callers to, per replica."""
        return {g.name: g.max_in_flight for g in self.groups}

    def group_of(self, component: str) -> Group:
        for group in self.groups:
            if component in group.components:
                return group
        raise TopologyError(f"topology '{self.name}': component '{component}' is in no group")
