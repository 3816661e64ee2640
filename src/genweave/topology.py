"""Topologies: which components share a process, and how many replicas each group runs.

A topology is a preset name or a TOML file (``genweave.toml``)::

    preset = "hybrid"             # or [groups.NAME] tables, as below
transport = "unix"            # or "tcp"
max_message_bytes = 67108864  # optional; larger calls fail with MessageTooLarge

    [groups.core]
    components = ["Assistant", "Retriever", "Moderator"]

    [groups.inference]
    components = ["Generator"]
    replicas = 2

    [components.Generator]        # settings, for components declared with config=...
    backend = "builtin"

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
from genweave.errors import TopologyError

__all__ = [
    "PRESETS",
    "Group",
    "Topology",
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


class Group(msgspec.Struct, frozen=True):
    """Components that share one process, run as ``replicas`` identical processes."""

    name: str
    components: tuple[str, ...]
    replicas: int = 1
    version: str = "1"


class Topology(msgspec.Struct, frozen=True):
    """A validated mapping of components to groups."""

    name: str
    groups: tuple[Group, ...]
    transport: Transport = "unix"
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    settings: dict[str, dict[str, Any]] = {}
    """Per-component settings (``[components.NAME]`` tables), validated against the app."""

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise TopologyError(f"topology '{self.name}' has no group '{name}'")

    def group_of(self, component: str) -> Group:
        for group in self.groups:
            if component in group.components:
                return group
        raise TopologyError(f"topology '{self.name}': component '{component}' is in no group")


class _GroupTable(msgspec.Struct, forbid_unknown_fields=True):
    components: list[str]
    replicas: int = 1
    version: str = "1"


class _TopologyFile(msgspec.Struct, forbid_unknown_fields=True):
    """The TOML layout; with neither ``preset`` nor ``[groups]`` it means ``monolith``."""

    preset: str | None = None
    groups: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
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
    if parsed.preset is not None and parsed.groups:
        raise TopologyError(f"{path}: give either 'preset' or [groups] tables, not both")
    if parsed.preset is None and not parsed.groups:
        parsed.preset = "monolith"  # a file of settings only
    groups = preset(parsed.preset, app).groups if parsed.preset is not None else tuple(
        Group(name, tuple(table.components), table.replicas, table.version)
        for name, table in (
            (name, _convert(raw_table, _GroupTable, f"{path}, [groups.{name}] "))
            for name, raw_table in parsed.groups.items()
        )
    )
    name = path.stem if parsed.groups else parsed.preset or path.stem
    topology = Topology(name, groups, parsed.transport, parsed.max_message_bytes,
                        parsed.components)
    return validate(topology, app, source=str(path))


def resolve_topology(spec: str | Path | Topology | None, app: App,
                     config: str | Path | None = None) -> Topology:
    """A topology from a preset name, a file path or an existing ``Topology``.

    ``config`` is a topology file whose ``[components]`` settings (and transport
    and limits) apply; its grouping is used only when ``spec`` is ``None``.
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


def component_settings(topology: Topology, app: App, name: str) -> Any:
    """The validated settings object for component ``name`` (defaults where not given)."""
    spec = app.components[name]
    if spec.config is None:
        return None
    return _convert(topology.settings.get(name, {}), spec.config, f"[components.{name}] ")


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
        raise TopologyError(f"{where}{key or 'top level'}: {reason}") from None


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
