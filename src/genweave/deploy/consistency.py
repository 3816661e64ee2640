"""Which placements keep state consistent: a pure rule that every deployer can ask.

A component says it keeps state through its settings: a ``database_url``
field (``genweave._storage.DATABASE_URL_SETTING``) makes it **stateful**,
whatever the app (the framework never imports the app to find out).  Its
state is **shared** when that setting names a PostgreSQL server, or when it
is empty and the placement gives every replica ``GENWEAVE_DATABASE_URL`` (a
Kubernetes Secret); otherwise it is a **local SQLite file**, under the
component's ``data_dir`` setting when it has one.

A SQLite file belongs to one host.  On one machine any number of processes
share it (WAL mode on one disk is consistent), so the local deployer needs no
rule.  On a placement where replicas may land on different hosts (Kubernetes,
Ray), each host would open a file of its own: replicas would answer from
different documents and run different queues.  There, the local state under
one directory must live in exactly one replica, which rules out:

- more than one replica of a group holding it (``replicas``, an ``autoscale``
  maximum above one);
- variants of such a group (each variant is another replica, with other pods);
- two groups whose components keep it under the same directory (the
  reference app's Retriever and Ingestor share ``data_dir``).

The environment of the process that asks (``GENWEAVE_DATABASE_URL`` on the
machine that exports manifests) never counts: the replicas get theirs from the
placement, which says so with ``database_from_env``.

Example::

    for conflict in state_conflicts(app, topology, multi_host=True):
        print(conflict.message)
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from genweave._storage import DATABASE_URL_ENV, DATABASE_URL_SETTING, Location, StorageError
from genweave.application import App
from genweave.errors import TopologyError
from genweave.topology import Group, Topology, component_settings

__all__ = [
    "DATA_DIR_SETTING",
    "LocalState",
    "StateConflict",
    "local_state",
    "state_conflicts",
    "stateful_components",
]

DATA_DIR_SETTING: Final = "data_dir"
"""The settings field naming the directory where a component keeps its files."""


@dataclass(frozen=True)
class LocalState:
    """A component that keeps state in a local SQLite file, in one workload of a group."""

    group: str
    variant: str | None
    """``None`` for the group's own version."""
    component: str
    directory: str | None
    """Where its files are (``data_dir``, or the directory of the file its
    ``database_url`` names), normalised; ``None`` when it does not say."""
    file: str | None = None
    """The SQLite file its ``database_url`` names, if it names one (else it
    keeps its files under ``directory``)."""

    @property
    def store(self) -> str:
        """What identifies its store: components with the same store share one file."""
        return self.directory if self.directory is not None else f"component {self.component}"


@dataclass(frozen=True)
class StateConflict:
    """Local SQLite state that a multi-host placement would split across hosts."""

    directory: str | None
    groups: tuple[str, ...]
    components: tuple[str, ...]
    reasons: tuple[str, ...]
    """Why it would run on more than one host (``replicas = 3``, a variant, ...)."""

    @property
    def message(self) -> str:
        """What would break and how to fix it, naming the groups and components."""
        where = f" under '{self.directory}'" if self.directory is not None else ""
        settings = " and ".join(f"[components.{name}]" for name in self.components)
        return (
            f"{_names('group', self.groups)} keep{'s' if len(self.groups) == 1 else ''} "
            f"state in a local SQLite file{where} ({_names('component', self.components)}) "
            f"but would run on more than one host ({'; '.join(self.reasons)}): each host "
            "would have its own file, so replicas would answer from different data. Keep "
            f"the state in PostgreSQL (database_url = \"postgresql://...\" in {settings}, or "
            f"{DATABASE_URL_ENV} in every replica's environment), or place "
            f"{'them' if len(self.components) > 1 else 'it'} in one group of one replica, "
            "with a persistent volume"
        )


def stateful_components(app: App, topology: Topology) -> dict[str, tuple[str, ...]]:
    """Group name -> its components that keep state (a ``database_url`` setting), if any.

    Example::

        stateful_components(app, preset("hybrid", app))   # {"core": ("Ingestor", "Retriever")}
    """
    found = {group.name: tuple(name for name in group.components
                               if _keeps_state(component_settings(topology, app, name)))
             for group in topology.groups}
    return {group: names for group, names in found.items() if names}


def local_state(app: App, topology: Topology, *,
                database_from_env: bool = False) -> list[LocalState]:
    """Every (workload, component) whose state is a local SQLite file on this placement.

    ``database_from_env``: every replica of a stateful group gets
    ``GENWEAVE_DATABASE_URL`` naming a shared database, so an empty
    ``database_url`` setting means that database.
    """
    found = []
    for group, names in stateful_components(app, topology).items():
        for variant in (None, *(v.name for v in topology.group(group).variants)):
            for name in names:
                state = _local(app, topology, group, variant, name, database_from_env)
                if state is not None:
                    found.append(state)
    return found


def state_conflicts(app: App, topology: Topology, *, multi_host: bool,
                    database_from_env: bool = False) -> list[StateConflict]:
    """The local state ``topology`` would split across hosts; empty when it is consistent.

    ``multi_host``: whether the placement may put replicas on different hosts
    (Kubernetes, Ray); on one host every replica shares one file.

    Example::

        state_conflicts(app, preset("microservices", app), multi_host=True)[0].groups
        # ("ingestor", "retriever")
    """
    if not multi_host:
        return []
    by_store: dict[str, list[LocalState]] = {}
    for state in local_state(app, topology, database_from_env=database_from_env):
        by_store.setdefault(state.store, []).append(state)
    conflicts = []
    for states in by_store.values():
        groups = sorted({s.group for s in states})
        reasons = [reason for name in groups for reason in _spread(topology.group(name))]
        if len(groups) > 1:
            reasons.append("separate groups never share a replica")
        if reasons:
            conflicts.append(StateConflict(states[0].directory, tuple(groups),
                                           tuple(sorted({s.component for s in states})),
                                           tuple(reasons)))
    return conflicts


def _keeps_state(settings: Any) -> bool:
    return isinstance(getattr(settings, DATABASE_URL_SETTING, None), str)


def _local(app: App, topology: Topology, group: str, variant: str | None, name: str,
           database_from_env: bool) -> LocalState | None:
    settings = component_settings(topology, app, name, variant)
    url: str = getattr(settings, DATABASE_URL_SETTING)
    data_dir = getattr(settings, DATA_DIR_SETTING, None)
    if not url:
        if database_from_env:
            return None
        directory = posixpath.normpath(data_dir) if isinstance(data_dir, str) else None
        return LocalState(group, variant, name, directory)
    try:
        location = Location.parse(url)
    except StorageError as error:
        raise TopologyError(f"[components.{name}] {DATABASE_URL_SETTING}: {error}") from None
    if location.shared:
        return None
    file = posixpath.normpath(location.target)
    return LocalState(group, variant, name, posixpath.dirname(file) or ".", file)


def _spread(group: Group) -> Iterator[str]:
    """Why a group's replicas may be on more than one host, if they may."""
    if group.autoscale is not None and group.autoscale.max > 1:
        yield f"group '{group.name}' autoscales up to {group.autoscale.max} replicas"
    elif group.autoscale is None and group.replicas > 1:
        yield f"group '{group.name}' has replicas = {group.replicas}"
    for variant in group.variants:
        yield f"group '{group.name}' has a variant '{variant.name}', with replicas of its own"


def _names(kind: str, names: tuple[str, ...]) -> str:
    quoted = [f"'{name}'" for name in names]
    if len(quoted) == 1:
        return f"{kind} {quoted[0]}"
    return f"{kind}s {', '.join(quoted[:-1])} and {quoted[-1]}"
