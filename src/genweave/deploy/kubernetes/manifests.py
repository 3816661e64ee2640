"""An app and a topology as Kubernetes resources, checked whole before anything is written.

``export_manifests`` gives, per file, the documents to apply:

- ``shared.yaml``: the ConfigMap holding the topology (rendered back to TOML,
  every group spelt out, transport ``tcp``), mounted in every pod;
- ``group-<group>.yaml`` per group: its Deployment and headless Service (and
  one of each per variant), its PodDisruptionBudgets, an HPA when it
  autoscales, a Service for its HTTP ports when it serves HTTP, and its
  NetworkPolicy.  A group keeping state in SQLite is a StatefulSet with a
  volume instead of a Deployment (``state``).

Everything is computed in memory first; a name Kubernetes would refuse, two
resources with one name, a missing image, a port clash or a SQLite file that
pods on several nodes would each have a copy of raises ``ExportError`` and
nothing is written.

Example::

    manifests = export_manifests(app, "examples.hello:app", preset("microservices", app),
                                 ExportOptions(image="registry.example/hello:1"))
    sorted(manifests.files)   # ["group-counter.yaml", "group-frontend.yaml", ...]
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from genweave.application import App
from genweave.deploy.kubernetes.access import allowed_callers
from genweave.deploy.kubernetes.command import TOPOLOGY_FILE
from genweave.deploy.kubernetes.http import http_ports, listening_everywhere
from genweave.deploy.kubernetes.names import (
    APP_LABEL,
    MANAGED_BY,
    ExportError,
    dns_label,
    resource_name,
)
from genweave.deploy.kubernetes.network import (
    discovery_service,
    http_service,
    network_policy,
)
from genweave.deploy.kubernetes.state import (
    DEFAULT_VOLUME_SIZE,
    DatabaseSecret,
    StatePlan,
    plan_state,
)
from genweave.deploy.kubernetes.workload import (
    Workload,
    autoscaler,
    deployment,
    disruption_budget,
    metadata,
    stateful_set,
)
from genweave.deploy.local import DEFAULT_GRACE
from genweave.topology import Group, Resources, Topology, memory_bytes, render_toml, validate
from genweave.transport.compat import interface_info

__all__ = [
    "AUTOSCALE_DEFAULT_CPUS",
    "SHARED_FILE",
    "ExportOptions",
    "Manifests",
    "export_manifests",
    "group_file",
]

SHARED_FILE: Final = "shared.yaml"
AUTOSCALE_DEFAULT_CPUS: Final = 1.0
"""The CPU request an autoscaled group gets when it declares none (utilisation needs one)."""
_HASH_CHARS: Final = 12
_IMAGE: Final = re.compile(r"^[^\s]+$")


@dataclass(frozen=True)
class ExportOptions:
    """What the export needs beyond the app and the topology."""

    image: str
    """The container image, built from ``genweave kube dockerfile``'s file."""
    namespace: str | None = None
    grace: float = DEFAULT_GRACE
    """Seconds a stopping replica may finish its calls in."""
    database_secret: str | None = None
    """``NAME[:KEY]`` of a Secret holding the PostgreSQL URL of the stateful groups."""
    volume_size: str = DEFAULT_VOLUME_SIZE
    """The volume of a group that keeps its state in SQLite (a Kubernetes quantity)."""
    tls: bool = False
    """Mutual TLS between pods: each group's pods mount the Secret ``APP-GROUP-tls``
    (``ca.pem``, ``GROUP.pem``, ``GROUP-key.pem`` from ``genweave certs``)."""


@dataclass
class Manifests:
    """File name -> the resources it holds, in apply order; and notes for the user."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def group_file(group: str) -> str:
    return f"group-{group}.yaml"


def export_manifests(app: App, import_path: str, topology: Topology,
                     options: ExportOptions) -> Manifests:
    """Every resource that runs ``app`` under ``topology`` on Kubernetes; see the module doc."""
    if not options.image or not _IMAGE.match(options.image):
        raise ExportError("an image is required (--image REGISTRY/NAME:TAG): the container "
                          "image built from the file `genweave kube dockerfile` writes")
    if options.namespace is not None:
        dns_label(options.namespace, "namespace")
    if options.grace < 0:
        raise ExportError(f"the grace period must be 0 or more seconds, got {options.grace:g}")
    secret = _secret(options)
    topology = validate(msgspec.structs.replace(topology, transport="tcp"), app,
                        source=f"topology '{topology.name}'")
    state = plan_state(app, topology, secret, options.volume_size)
    topology = listening_everywhere(app, state.topology)
    ports = http_ports(app, topology)
    callers = allowed_callers(app, topology)
    config_map = resource_name(app.name, "topology")
    manifests = Manifests(notes=list(state.notes))
    manifests.files[SHARED_FILE] = [_config_map(app.name, config_map, topology, options)]
    if options.tls:
        manifests.notes.append(
            f"mutual TLS: create each group's Secret before applying, e.g. genweave certs init "
            f"{import_path} --dir certs, then per GROUP: genweave certs issue {import_path} GROUP "
            f"--dir certs && kubectl create secret generic {app.name}-GROUP-tls "
            "--from-file=certs/ca.pem --from-file=certs/GROUP.pem "
            "--from-file=certs/GROUP-key.pem")
    for group in topology.groups:
        resources = _resources(group, manifests.notes)
        workloads = [
            Workload(app.name, import_path, group, variant, options.image, options.namespace,
                     options.grace, resources, ports.get(group.name, ()),
                     _interface_hash(app, group), _config_hash(topology, group), config_map,
                     *_storage(group.name, state, secret, options.volume_size),
                     tls_secret=(resource_name(app.name, group.name, suffix="tls")
                                 if options.tls else None))
            for variant in (None, *group.variants)
        ]
        primary = workloads[0]
        documents = [stateful_set(w) if w.volume_size else deployment(w) for w in workloads]
        documents += [discovery_service(w) for w in workloads]
        if primary.http_ports:
            documents.append(http_service(primary))
        documents += [disruption_budget(w) for w in workloads]
        if primary.autoscaled:
            documents.append(autoscaler(primary))
        documents.append(network_policy(app.name, group.name, options.namespace,
                                        callers[group.name], primary.http_ports))
        manifests.files[group_file(group.name)] = documents
    _check_unique(manifests)
    return manifests


def _secret(options: ExportOptions) -> DatabaseSecret | None:
    try:
        memory_bytes(options.volume_size)
    except ValueError as error:
        raise ExportError(f"volume size: {error}") from None
    if options.database_secret is None:
        return None
    return DatabaseSecret.parse(options.database_secret)


def _storage(group: str, state: StatePlan, secret: DatabaseSecret | None,
             volume_size: str) -> tuple[DatabaseSecret | None, str | None]:
    """The Secret a group's pods read their database URL from, and the size of their volume."""
    return (secret if group in state.secret_groups else None,
            volume_size if group in state.volume_groups else None)


def _config_map(app: str, name: str, topology: Topology,
                options: ExportOptions) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(name, options.namespace, {APP_LABEL: app, **MANAGED_BY}),
            "data": {TOPOLOGY_FILE: render_toml(topology)}}


def _resources(group: Group, notes: list[str]) -> Resources:
    resources = group.resources
    if group.autoscale is not None and resources.cpus is None:
        notes.append(f"group '{group.name}' autoscales on CPU utilisation, which is measured "
                     f"against a CPU request: it asks for {AUTOSCALE_DEFAULT_CPUS:g} CPU per "
                     f"replica; set cpus in [groups.{group.name}] to choose")
        return msgspec.structs.replace(resources, cpus=AUTOSCALE_DEFAULT_CPUS)
    return resources


def _interface_hash(app: App, group: Group) -> str:
    """A short hash of the group's components' interface fingerprints (the handshake's)."""
    text = "\n".join(f"{name}:{interface_info(app.components[name]).fingerprint}"
                     for name in sorted(group.components))
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]


def _config_hash(topology: Topology, group: Group) -> str:
    """What the group's pods run with, apart from counts the Deployment and HPA carry.

    Its own options and variants, its components' settings, the Ref policies
    and the wire limits, as the topology file spells them: changing any of them
    changes the pod template, so Kubernetes rolls the group's pods.  Another
    group's options reach them on their next restart.
    """
    own = msgspec.structs.replace(group, replicas=1, autoscale=None)
    settings = {name: topology.settings[name] for name in group.components
                if name in topology.settings}
    part = Topology("", (own,), topology.transport, topology.max_message_bytes, settings,
                    topology.refs)
    return hashlib.sha256(render_toml(part).encode()).hexdigest()[:_HASH_CHARS]


def _check_unique(manifests: Manifests) -> None:
    seen: dict[tuple[str, str], str] = {}
    for file, documents in manifests.files.items():
        for document in documents:
            key = (document["kind"], document["metadata"]["name"])
            if key in seen:
                raise ExportError(f"two {key[0]}s are named '{key[1]}' ({seen[key]} and {file}); "
                                  "rename a group or variant so that their names differ")
            seen[key] = file
