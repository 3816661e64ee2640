"""Topologies: which components share a process, and how each group runs.

A topology is a preset name or a TOML file (``genweave.toml``)::

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

    [groups.generator.variants.small]   # an experiment: 10% of traffic, sticky per user
    weight = 10
    settings.Generator = { backend = "builtin" }

    [components.Generator]        # settings, for components declared with config=...
    backend = "builtin"

    [refs.Illustrator]            # isolation policy for calls to Illustrator
    circuit = { failures = 3, reset_after = 2.0 }

Presets need no file: ``monolith`` (one group), ``microservices`` (one group per
component) and ``hybrid`` (a ``core`` group, with each ``role="inference"``
component split into a group of its own).  Every problem is reported before
anything starts, naming the file, the key and the reason.
"""

from __future__ import annotations

import difflib
import graphlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from genweave.application import App
from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import ComponentSpec, spec_of
from genweave.errors import TopologyError
from genweave.resilience import RefPolicy

__all__ = [
    "PRESETS",
    "Autoscale",
    "Group",
    "Topology",
    "Variant",
    "caller_waves",
    "component_settings",
    "load_topology",
    "preset",
    "resolve_topology",
]

PRESETS: Final = ("monolith", "microservices", "hybrid")
INFERENCE_ROLE: Final = "inference"
_GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PATH_IN_ERROR = re.compile(r" - at `\$([^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]+)`")

Transport = Literal["unix", "tcp"]
DEFAULT_MAX_IN_FLIGHT: Final = 1024
"""Calls one replica runs at once by default; beyond it calls are refused (Overloaded).

A count, not a time: a group whose calls are slow (a model) should set its own,
about the calls it can finish within the latency its callers accept.
"""

PRIMARY_VARIANT: Final = "primary"
"""How experiments name a group's own version (``genweave.runtime.membership.PRIMARY``)."""
_Count = Annotated[int, msgspec.Meta(ge=1)]
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class Autoscale(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Follow measured load: ``ceil(in-flight calls / target_in_flight)`` replicas.

    A change must be wanted for ``up_delay`` (growing) or ``down_delay``
    (shrinking) seconds before it happens, so bursts do not make replicas flap.
    """

    max: _Count
    min: _Count = 1
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
    replicas: _Count = 1
    weight: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.0
    shadow: bool = False
    sample: Annotated[float, msgspec.Meta(gt=0, le=100)] = 100.0
    """Percent of calls a shadow variant gets a copy of (an expensive candidate needs few)."""
    settings: dict[str, dict[str, Any]] = {}
    """Component name -> settings that replace the primary's ``[components.NAME]`` keys."""


class Group(msgspec.Struct, frozen=True):
    """Components that share one process, run as ``replicas`` identical processes."""

    name: str
    components: tuple[str, ...]
    replicas: int = 1
    version: str = "1"
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    autoscale: Autoscale | None = None
    variants: tuple[Variant, ...] = ()

    @property
    def primary_weight(self) -> float:
        """Percent of calls the primary version takes: what the variants leave."""
        return 100.0 - sum(v.weight for v in self.variants if not v.shadow)

    def describe(self) -> str:
        """A one-line summary of the group's options, for ``genweave topology`` and status."""
        parts = []
        if self.autoscale is not None:
            a = self.autoscale
            parts.append(f"autoscale {a.min}-{a.max} at {a.target_in_flight:g} in flight/replica")
        if self.max_in_flight != DEFAULT_MAX_IN_FLIGHT:
            parts.append(f"max {self.max_in_flight} in flight/replica")
        for v in self.variants:
            share = f"shadow of {v.sample:g}%" if v.shadow else f"{v.weight:g}%"
            parts.append(f"variant {v.name} ({share}, x{v.replicas})")
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


class _VariantTable(msgspec.Struct, forbid_unknown_fields=True):
    replicas: _Count = 1
    weight: Annotated[float, msgspec.Meta(ge=0, le=100)] = 0.0
    shadow: bool = False
    sample: Annotated[float, msgspec.Meta(gt=0, le=100)] = 100.0
    settings: dict[str, dict[str, Any]] = {}


class _GroupTable(msgspec.Struct, forbid_unknown_fields=True):
    components: list[str] | None = None
    replicas: int = 1
    version: str = "1"
    max_in_flight: _Count = DEFAULT_MAX_IN_FLIGHT
    autoscale: Autoscale | None = None
    variants: dict[str, dict[str, Any]] = {}

    def group(self, name: str, components: tuple[str, ...], source: str) -> Group:
        tables = {n: _convert(v, _VariantTable, f"{source}, [groups.{name}.variants.{n}] ")
                  for n, v in self.variants.items()}
        variants = tuple(Variant(n, v.replicas, v.weight, v.shadow, v.sample, v.settings)
                         for n, v in tables.items())
        return Group(name, components, self.replicas, self.version, self.max_in_flight,
                     self.autoscale, variants)


class _TopologyFile(msgspec.Struct, forbid_unknown_fields=True):
    """The TOML layout; with neither ``preset`` nor ``[groups]`` it means ``monolith``."""

    preset: str | None = None
    groups: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    refs: dict[str, dict[str, Any]] = {}
    transport: Transport = "unix"
    max_message_bytes: Annotated[int, msgspec.Meta(ge=1024)] = DEFAULT_MAX_MESSAGE_BYTES


def preset(name: str, app: App) -> Topology:
    """Build one of the ``PRESETS`` for ``app``."""
    names = sorted(app.components)
    if name == "monolith":
        groups = [Group("main", tuple(names))]
    elif name == "microservices":
        groups = [Group(_group_name(n), (n,)) for n in names]
    elif name == "hybrid":
        inference = [n for n in names if app.components[n].role == INFERENCE_ROLE]
        core = tuple(n for n in names if n not in inference)
        groups = ([Group("core", core)] if core else []) + [
            Group(_group_name(n), (n,)) for n in inference
        ]
    else:
        raise TopologyError(
            f"unknown topology preset '{name}'{_did_you_mean(name, PRESETS)}; "
            f"choose one of {', '.join(PRESETS)} or give a .toml file"
        )
    return Topology(name, tuple(groups))


def load_topology(path: str | Path, app: App) -> Topology:
    """Read and validate a topology file against ``app``."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read topology file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TopologyError(f"{path}: not valid TOML: {exc}") from None
    parsed = _convert(raw, _TopologyFile, f"{path}, ")
    tables = {name: _convert(raw_table, _GroupTable, f"{path}, [groups.{name}] ")
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
    refs = {key: _convert(table, RefPolicy, f"{path}, [refs.{key}] ")
            for key, table in parsed.refs.items()}
    topology = Topology(name, groups, parsed.transport, parsed.max_message_bytes,
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
                                f"{_did_you_mean(name, by_name)}; its groups are "
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
    ``[groups.NAME]`` options).
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


def validate(topology: Topology, app: App, source: str) -> Topology:
    """Check a topology against an app; return it unchanged when valid."""
    if not topology.groups:
        raise TopologyError(f"{source}: no groups defined")
    placed: dict[str, str] = {}
    for group in topology.groups:
        where = f"{source}, [groups.{group.name}]"
        if not _GROUP_NAME.match(group.name):
            raise TopologyError(
                f"{where}: group names use lowercase letters, digits, '-' and '_'"
            )
        if isinstance(group.replicas, bool) or group.replicas < 1:
            raise TopologyError(f"{where}: replicas must be an integer >= 1, got {group.replicas}")
        _validate_group_options(group, app, where)
        if not group.components:
            raise TopologyError(f"{where}: components is empty")
        for name in group.components:
            if name not in app.components:
                raise TopologyError(
                    f"{where}: component '{name}' is not defined"
                    f"{_did_you_mean(name, app.components)}"
                )
            if name in placed:
                raise TopologyError(
                    f"{where}: component '{name}' is already in [groups.{placed[name]}]"
                )
            placed[name] = group.name
    _validate_settings(topology, app, source)
    _validate_refs(topology, app, source)
    missing = sorted(set(app.components) - set(placed))
    if missing:
        raise TopologyError(
            f"{source}: component{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} not placed in any group"
        )
    return topology


def _validate_settings(topology: Topology, app: App, source: str) -> None:
    for name, table in topology.settings.items():
        where = f"{source}, [components.{name}]"
        spec = app.components.get(name)
        if spec is None:
            raise TopologyError(
                f"{where}: component '{name}' is not defined{_did_you_mean(name, app.components)}"
            )
        if spec.config is None:
            raise TopologyError(f"{where}: component '{name}' takes no settings")
        _convert(table, spec.config, f"{where} ")


def _validate_group_options(group: Group, app: App, where: str) -> None:
    scale = group.autoscale
    if scale is not None and not scale.min <= scale.max:
        raise TopologyError(f"{where} autoscale: min ({scale.min}) is above max ({scale.max})")
    if scale is not None and not scale.min <= group.replicas <= scale.max:
        raise TopologyError(f"{where} replicas: {group.replicas} is outside autoscale's "
                            f"[{scale.min}, {scale.max}]")
    if group.primary_weight < 0:
        raise TopologyError(f"{where} variants: weights add up to more than 100")
    for variant in group.variants:
        at = f"{where} variants.{variant.name}"
        if variant.shadow and variant.weight:
            raise TopologyError(f"{at}: a shadow variant takes no weight (it gets copies; "
                                "'sample' sets the share of calls copied)")
        if variant.sample != 100.0 and not variant.shadow:
            raise TopologyError(f"{at}: 'sample' is for shadow variants; use 'weight'")
        if variant.name == PRIMARY_VARIANT:
            raise TopologyError(f"{at}: '{PRIMARY_VARIANT}' names the group's own version")
        for name, table in variant.settings.items():
            if name not in group.components:
                raise TopologyError(f"{at} settings: '{name}' is not a component of this group")
            config = app.components[name].config
            if config is None:
                raise TopologyError(f"{at} settings.{name}: component '{name}' takes no settings")
            _convert(table, config, f"{at} settings.{name} ")


def _validate_refs(topology: Topology, app: App, source: str) -> None:
    for key, policy in topology.refs.items():
        where = f"{source}, [refs.{key}]"
        caller, dot, attribute = key.partition(".")
        if dot:
            spec = app.components.get(caller)
            if spec is None or attribute not in spec.refs:
                known = [f"{n}.{a}" for n, s in app.components.items() for a in s.refs]
                raise TopologyError(f"{where}: no Ref '{key}'{_did_you_mean(key, known)}")
            target = spec_of(spec.refs[attribute])
        elif key in app.components:
            target = app.components[key]
        else:
            raise TopologyError(f"{where}: component '{key}' is not defined"
                                f"{_did_you_mean(key, app.components)}")
        if policy.fallback is not None:
            _validate_fallback(policy, target, app, where)


def _validate_fallback(policy: RefPolicy, target: ComponentSpec, app: App, where: str) -> None:
    fallback = policy.fallback
    assert fallback is not None
    if fallback.component is not None:
        spare = app.components.get(fallback.component)
        if spare is None:
            raise TopologyError(f"{where} fallback.component: '{fallback.component}' is not "
                                f"defined{_did_you_mean(fallback.component, app.components)}")
        for method in target.methods.values():
            other = spare.methods.get(method.name)
            if other is None or other.descriptor() != method.descriptor():
                raise TopologyError(
                    f"{where} fallback.component: '{spare.name}' has no method "
                    f"'{method.name}' with the shape of {method.qualname}")
    for name, value in fallback.values.items():
        returning = target.methods.get(name)
        if returning is None:
            raise TopologyError(f"{where} fallback.values.{name}: {target.name} has no method "
                                f"'{name}'{_did_you_mean(name, target.methods)}")
        shape: Any = list[returning.result] if returning.stream else returning.result  # type: ignore[name-defined]
        _convert(value, shape, f"{where} fallback.values.{name} ")


def component_settings(topology: Topology, app: App, name: str,
                       variant: str | None = None) -> Any:
    """The validated settings object for component ``name`` (defaults where not given).

    With ``variant``, that variant's settings replace the primary's key by key.
    """
    spec = app.components[name]
    if spec.config is None:
        return None
    table = dict(topology.settings.get(name, {}))
    if variant is not None:
        table.update(topology.group_of(name).variant(variant).settings.get(name, {}))
    return _convert(table, spec.config, f"[components.{name}] ")


def _group_name(component: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", component).lower()


def _did_you_mean(name: str, choices: object) -> str:
    matches = difflib.get_close_matches(name, list(choices), n=1)  # type: ignore[call-overload]
    return f" (did you mean '{matches[0]}'?)" if matches else ""


_T = TypeVar("_T")


def _convert(raw: object, tp: type[_T], where: str) -> _T:
    """``msgspec.convert`` whose errors read ``FILE, [groups.core] replicas: reason``."""
    try:
        return msgspec.convert(raw, tp)
    except msgspec.ValidationError as exc:
        message = str(exc)
        unknown = _UNKNOWN_FIELD.match(message)
        if unknown:
            raise TopologyError(f"{where}{unknown.group(1)}: unknown key") from None
        match = _PATH_IN_ERROR.search(message)
        key = match.group(1).lstrip(".") if match else ""
        reason = message[: match.start()] if match else message
        if not key:
            raise TopologyError(f"{where.rstrip(', ') or 'top level'}: {reason}") from None
        raise TopologyError(f"{where}{key}: {reason}") from None


def caller_waves(app: App, topology: Topology) -> list[list[str]]:
    """Group names in waves, callers before the groups they call.

    Stopping wave by wave lets in-flight calls finish while their callees still
    serve; starting in reverse lets ``on_start`` hooks use their Refs.  A cycle
    between groups puts them in one wave.
    """
    where = {name: topology.group_of(name).name for name in app.components}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
        {g.name: set() for g in topology.groups}
    )
    for caller, callees in app.dependencies().items():
        for callee in callees:
            if where[callee] != where[caller]:
                sorter.add(where[callee], where[caller])
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return [[g.name for g in topology.groups]]
    waves = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        waves.append(ready)
        sorter.done(*ready)
    return waves
