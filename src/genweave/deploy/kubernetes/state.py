"""Where a stateful group keeps its state on Kubernetes: a Secret's database, or a volume.

A group is stateful when one of its components has a ``database_url`` setting
(``genweave.deploy.consistency``).  Pods may land on any node, so:

- with ``--database-secret NAME[:KEY]``, every stateful group's containers get
  ``GENWEAVE_DATABASE_URL`` from that Secret (a ``secretKeyRef``: the URL, and
  its password, never appear in a manifest); an empty ``database_url`` setting
  then means that PostgreSQL database, and the group may have any number of
  replicas and variants;
- without it, a group whose state is a local SQLite file runs as a
  **StatefulSet** of one replica whose PersistentVolumeClaim is mounted at
  ``/var/lib/genweave``: the components' ``data_dir`` is set to that path in
  the exported topology, so the files outlive the pod and follow it to another
  node;
- anything that would split one SQLite file across pods (replicas, an
  autoscale maximum above one, variants, two groups sharing a ``data_dir``)
  is refused, naming the groups, the components and the fix, before anything
  is written.

Only the topology and the Secret decide: ``GENWEAVE_DATABASE_URL`` in the
environment of the process that exports is not the pods' environment, and is
ignored.

Example::

    plan = plan_state(app, topology, DatabaseSecret.parse("assistant-db:url"))
    sorted(plan.secret_groups)   # ["core"] for the reference app under hybrid
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from genweave._storage import DATABASE_URL_ENV, DATABASE_URL_SETTING
from genweave.application import App
from genweave.deploy.consistency import (
    DATA_DIR_SETTING,
    LocalState,
    local_state,
    state_conflicts,
    stateful_components,
)
from genweave.deploy.kubernetes.names import ExportError
from genweave.topology import Topology

__all__ = [
    "DATA_MOUNT",
    "DATA_VOLUME",
    "DEFAULT_SECRET_KEY",
    "DEFAULT_VOLUME_SIZE",
    "DatabaseSecret",
    "StatePlan",
    "plan_state",
]

DATA_MOUNT: Final = "/var/lib/genweave"
"""Where a StatefulSet's volume is mounted, and what its components' ``data_dir`` becomes."""
DATA_VOLUME: Final = "data"
DEFAULT_SECRET_KEY: Final = "url"
"""The Secret's key holding the URL when ``--database-secret`` names none."""
DEFAULT_VOLUME_SIZE: Final = "1Gi"
_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SECRET_NAME: Final = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
"""A DNS subdomain (RFC 1123), as Kubernetes names Secrets."""
_SECRET_KEY: Final = re.compile(r"^[-._a-zA-Z0-9]+$")
_MAX_SECRET_NAME: Final = 253


@dataclass(frozen=True)
class DatabaseSecret:
    """The Secret (and its key) holding a PostgreSQL URL for every stateful group's pods."""

    name: str
    key: str = DEFAULT_SECRET_KEY

    @classmethod
    def parse(cls, text: str) -> DatabaseSecret:
        """``NAME`` or ``NAME:KEY``, or ``ExportError`` saying what Kubernetes would refuse.

        Example::

            DatabaseSecret.parse("assistant-db")   # DatabaseSecret("assistant-db", "url")
        """
        name, colon, key = text.partition(":")
        secret = cls(name, key if colon else DEFAULT_SECRET_KEY)
        if len(name) > _MAX_SECRET_NAME or not _SECRET_NAME.match(name):
            raise ExportError(
                f"--database-secret {text!r}: '{name}' is not a Secret name (lowercase letters, "
                "digits, '-' and '.', starting and ending with a letter or digit); give "
                "NAME or NAME:KEY")
        if len(secret.key) > _MAX_SECRET_NAME or not _SECRET_KEY.match(secret.key):
            raise ExportError(
                f"--database-secret {text!r}: '{secret.key}' is not a Secret key (letters, "
                "digits, '-', '_' and '.'); give NAME or NAME:KEY")
        return secret

    def env(self) -> dict[str, Any]:
        """The container's ``GENWEAVE_DATABASE_URL``, read from the Secret by the kubelet."""
        return {"name": DATABASE_URL_ENV,
                "valueFrom": {"secretKeyRef": {"name": self.name, "key": self.key}}}


@dataclass(frozen=True)
class StatePlan:
    """How each stateful group keeps its state, and the topology the pods run with."""

    topology: Topology
    """The topology with the ``data_dir`` of each volume group's components at ``DATA_MOUNT``."""
    secret_groups: frozenset[str]
    """Groups whose containers get ``GENWEAVE_DATABASE_URL`` from the Secret."""
    volume_groups: frozenset[str]
    """Groups run as a one-replica StatefulSet with a volume for their SQLite files."""
    notes: tuple[str, ...] = ()


def plan_state(app: App, topology: Topology, secret: DatabaseSecret | None,
               volume_size: str = DEFAULT_VOLUME_SIZE) -> StatePlan:
    """Decide each stateful group's storage; ``ExportError`` if a SQLite file would be split."""
    shared = secret is not None
    conflicts = state_conflicts(app, topology, multi_host=True, database_from_env=shared)
    if conflicts:
        raise ExportError(". ".join(c.message for c in conflicts) + (
            ". On Kubernetes, pods may run on any node: give the groups PostgreSQL with "
            "--database-secret NAME[:KEY] (a Secret holding the URL; it becomes "
            f"{DATABASE_URL_ENV} in their pods)"))
    local: dict[str, list[LocalState]] = defaultdict(list)
    for state in local_state(app, topology, database_from_env=shared):
        local[state.group].append(state)
    settings = dict(topology.settings)
    notes = []
    for group, states in local.items():
        _check_volume(group, states)
        for state in states:
            settings[state.component] = {**settings.get(state.component, {}),
                                         DATA_DIR_SETTING: DATA_MOUNT}
        names = ", ".join(sorted(s.component for s in states))
        notes.append(f"group '{group}' keeps state in SQLite ({names}): it runs as a "
                     f"StatefulSet of one replica with a {volume_size} volume at {DATA_MOUNT}; "
                     "for more replicas, give it PostgreSQL with --database-secret NAME[:KEY]")
    stateful = frozenset(stateful_components(app, topology)) if shared else frozenset()
    return StatePlan(msgspec.structs.replace(topology, settings=settings), stateful,
                     frozenset(local), tuple(notes))


def _check_volume(group: str, states: list[LocalState]) -> None:
    """One volume holds the group's files: each component must keep them under one data_dir."""
    for state in states:
        if state.file is not None:
            raise ExportError(
                f"group '{group}': component '{state.component}' names the SQLite file "
                f"'{state.file}' in its {DATABASE_URL_SETTING} setting, which a pod would lose "
                f"with its container; leave {DATABASE_URL_SETTING} empty (its {DATA_DIR_SETTING} "
                f"is put on a persistent volume) or name a PostgreSQL database "
                "(--database-secret NAME[:KEY])")
        if state.directory is None:
            raise ExportError(
                f"group '{group}': component '{state.component}' keeps state in a local SQLite "
                f"file but has no {DATA_DIR_SETTING} setting, so the export cannot put it on a "
                f"persistent volume; give its settings a {DATA_DIR_SETTING} field, or name a "
                "PostgreSQL database (--database-secret NAME[:KEY])")
    directories = sorted({s.directory for s in states if s.directory is not None})
    if len(directories) > 1:
        raise ExportError(
            f"group '{group}' keeps SQLite files under several {DATA_DIR_SETTING}s "
            f"({', '.join(repr(d) for d in directories)}), and a pod has one persistent volume: "
            f"give its components one {DATA_DIR_SETTING}, or name a PostgreSQL database "
            "(--database-secret NAME[:KEY])")
