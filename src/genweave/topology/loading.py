"""Topology files (``genweave.toml``) and choosing a topology from a name or a path.

A file either amends a preset or defines its own groups::

    preset = "hybrid"             # or [groups.NAME] tables with components, as below
    transport = "unix"            # or "tcp"
    max_message_bytes = 67108864  # optional; larger calls fail with MessageTooLarge

    [groups.core]
    components = ["Assistant", "Retriever", "Moderator"]

    [groups.generator]
    components = ["Generator"]    # with a preset, group tables only set options
    replicas = 2
    max_in_flight = 64            # calls one replica runs at once; more are refused
    autoscale = { min = 1, max = 4, target_in_flight = 4 }
    cpus = 2                      # per replica: CPUs, memory (a Kubernetes quantity),
    memory = "4Gi"                # whole GPUs; see genweave.topology.resources
    gpus = 1
    extras = ["models"]           # extras of the app's package its components need
    expose = [8000]               # HTTP ports served to the outside (default: found
                                  # from its components' `port` settings)
    addresses = ["tcp:10.0.0.2:7070", "tcp:10.0.0.3:7070"]  # for static discovery

    [groups.generator.variants.small]   # an experiment: 10% of traffic, sticky per user
    weight = 10
    settings.Generator = { backend = "builtin" }

    [components.Generator]        # settings, for components declared with config=...
    backend = "builtin"

    [refs.Illustrator]            # isolation policy for calls to Illustrator
    circuit = { failures = 3, reset_after = 2.0 }

A file with neither ``preset`` nor ``[groups]`` holds settings only and means
``monolith``.  A topology is named after its preset, or its file (``name =
"..."`` says otherwise).  Every problem is reported before anything starts, naming the
file, the key and the reason.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec

from genweave.application import App
from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.errors import TopologyError
from genweave.resilience import RefPolicy
from genweave.topology._errors import convert, did_you_mean
from genweave.topology.model import (
    DEFAULT_MAX_IN_FLIGHT,
    Autoscale,
    Count,
    Group,
    Port,
    SamplePercent,
    Topology,
    Transport,
    Variant,
    WeightPercent,
)
from genweave.topology.presets import preset
from genweave.topology.resources import Resources, whole_gpus
from genweave.topology.validation import validate

__all__ = ["load_topology", "resolve_topology"]

_MIN_MESSAGE_BYTES = 1024
_Extra = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _VariantTable(msgspec.Struct, forbid_unknown_fields=True):
    replicas: Count = 1
    weight: WeightPercent = 0.0
    shadow: bool = False
    sample: SamplePercent = 100.0
    settings: dict[str, dict[str, Any]] = {}


class _GroupTable(msgspec.Struct, forbid_unknown_fields=True):
    components: list[str] | None = None
    replicas: int = 1
    version: str = "1"
    max_in_flight: Count = DEFAULT_MAX_IN_FLIGHT
    autoscale: Autoscale | None = None
    variants: dict[str, dict[str, Any]] = {}
    cpus: Annotated[float, msgspec.Meta(gt=0)] | None = None
    memory: str | None = None
    gpus: float = 0
    """Whole devices; read as a number so that 0.5 gets a message about GPUs, not types."""
    expose: list[Port] | None = None
    extras: list[_Extra] = []
    addresses: list[str] = []
    """Where the replicas serve calls, for static discovery: ``["tcp:10.0.0.2:7070"]``."""
    ray_resources: dict[str, float] = {}
    """Custom Ray resources per replica, on the Ray placement: ``{gpu_node = 1}``."""

    def group(self, name: str, components: tuple[str, ...], source: str) -> Group:
        tables = {n: convert(v, _VariantTable, f"{source}, [groups.{name}.variants.{n}] ")
                  for n, v in self.variants.items()}
        variants = tuple(Variant(n, v.replicas, v.weight, v.shadow, v.sample, v.settings)
                         for n, v in tables.items())
        try:
            gpus = whole_gpus(self.gpus)
        except ValueError as exc:
            raise TopologyError(f"{source}, [groups.{name}] gpus: {exc}") from None
        return Group(name, components, self.replicas, self.version, self.max_in_flight,
                     self.autoscale, variants, Resources(self.cpus, self.memory, gpus),
                     None if self.expose is None else tuple(self.expose), tuple(self.extras),
                     tuple(self.addresses), dict(self.ray_resources))


class _TopologyFile(msgspec.Struct, forbid_unknown_fields=True):
    """The TOML layout; with neither ``preset`` nor ``[groups]`` it means ``monolith``."""

    preset: str | None = None
    name: str | None = None
    groups: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    refs: dict[str, dict[str, Any]] = {}
    transport: Transport = "unix"
    max_message_bytes: Annotated[int, msgspec.Meta(ge=_MIN_MESSAGE_BYTES)] = (
        DEFAULT_MAX_MESSAGE_BYTES)


def load_topology(path: str | Path, app: App) -> Topology:
    """Read and validate a topology file against ``app``.

    Example::

        topology = load_topology("genweave.toml", app)
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read topology file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: not valid TOML: {exc}") from None
    parsed = convert(raw, _TopologyFile, f"{path}, ")
    tables = {name: convert(raw_table, _GroupTable, f"{path}, [groups.{name}] ")
              for name, raw_table in parsed.groups.items()}
    if parsed.preset is None and not tables:
        parsed.preset = "monolith"  # a file of settings only
    if parsed.preset is not None:
        groups = _amend(preset(parsed.preset, app).groups, tables, parsed.preset, str(path))
        name = parsed.preset
    else:
        for group_name, table in tables.items():
            if table.components is None:
                raise TopologyError(f"{path}, [groups.{group_name}] components: required "
                                    "(or set 'preset' to amend a preset's groups)")
        groups = tuple(table.group(n, tuple(table.components or ()), str(path))
                       for n, table in tables.items())
        name = path.stem
    refs = {key: convert(table, RefPolicy, f"{path}, [refs.{key}] ")
            for key, table in parsed.refs.items()}
    topology = Topology(parsed.name or name, groups, parsed.transport, parsed.max_message_bytes,
                        parsed.components, refs)
    return validate(topology, app, source=str(path))


def _amend(groups: tuple[Group, ...], tables: dict[str, _GroupTable], preset_name: str,
           source: str) -> tuple[Group, ...]:
    """A preset's groups with the options of same-named ``[groups.NAME]`` tables."""
    by_name = {g.name: g for g in groups}
    for name, table in tables.items():
        where = f"{source}, [groups.{name}]"
        if name not in by_name:
            raise TopologyError(f"{where}: preset '{preset_name}' has no group '{name}'"
                                f"{did_you_mean(name, by_name)}; its groups are "
                                f"{', '.join(by_name)}")
        if table.components is not None:
            raise TopologyError(f"{where} components: a preset places the components; "
                                "remove 'preset' to define groups yourself")
        by_name[name] = table.group(name, by_name[name].components, source)
    return tuple(by_name.values())


def resolve_topology(spec: str | Path | Topology | None, app: App,
                     config: str | Path | None = None) -> Topology:
    """A topology from a preset name, a file path or an existing ``Topology``.

    ``config`` is a topology file whose ``[components]`` settings, ``[refs]``
    policies, transport and limits apply; its grouping is used when ``spec`` is
    ``None`` or names the preset the file amends (``preset = "hybrid"`` with
    ``[groups.NAME]`` options)::

        resolve_topology("microservices", app, config="genweave.toml")
    """
    if isinstance(spec, Topology):
        return validate(spec, app, source=f"topology '{spec.name}'")
    base = load_topology(config, app) if config is not None else None
    if spec is None:
        return base if base is not None else preset("monolith", app)
    if isinstance(spec, Path) or spec.endswith(".toml"):
        chosen = load_topology(spec, app)
    else:
        chosen = preset(spec, app)
    if base is None:
        return chosen
    if base.name == spec:
        return base  # the file amends this very preset: keep its group options
    return validate(msgspec.structs.replace(base, name=chosen.name, groups=chosen.groups), app,
                    source=str(config))
