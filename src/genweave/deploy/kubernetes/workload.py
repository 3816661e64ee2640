"""The pods of one group (or a variant): Deployment or StatefulSet, disruption budget, HPA.

Choices, each with its reason:

- **Rolling updates add before they remove** (``maxUnavailable: 0``): a new
  pod must pass ``/readyz`` before an old one drains, so a rollout drops no
  call.  A pod labelled with a new ``genweave.dev/version`` or interface is a
  new ReplicaSet; the selector never uses those labels, so the Deployment
  rolls in place instead of being replaced.
- **Draining**: on deletion Kubernetes runs ``preStop`` (a short sleep, so
  every caller's DNS and the endpoints drop the pod first), then sends
  SIGTERM; the worker turns ``/readyz`` to 503, leaves membership, finishes
  its calls within the grace period and exits.  ``terminationGracePeriodSeconds``
  is the grace period plus that sleep.
- **Resources**: requests equal limits, so a pod with CPUs and memory set is
  in the Guaranteed class (a model's latency does not depend on its
  neighbours) and GPUs, which Kubernetes only hands out whole, are limits as
  they must be.
- **Disruption budget**: ``maxUnavailable: 1`` at every size.  ``minAvailable:
  1`` on a one-replica group would forbid every voluntary eviction, so a node
  drain would hang; one at a time keeps a multi-replica group serving and
  lets a single replica move (it is down either way while it moves).
- **State**: a group keeping SQLite state (``genweave.deploy.kubernetes.state``)
  is a StatefulSet of one replica instead: its volume claim follows the pod to
  another node, its headless Service is the StatefulSet's ``serviceName``, and
  ``fsGroup`` lets the unprivileged user write the volume.  A rollout then stops
  the old pod before starting the new one (a volume is written by one pod).
  A group whose state is in PostgreSQL gets the URL from a Secret and stays a
  Deployment.
- **Autoscaling** follows CPU utilisation, the one metric every cluster has
  (metrics-server).  genweave's own signal, calls in flight per replica, is on
  each pod's ``/metrics``, but an HPA can only read it through a custom
  metrics adapter (prometheus-adapter, KEDA) the cluster may not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from genweave.deploy.kubernetes.command import (
    POD_IP_ENV,
    PROBE_PORT,
    RPC_PORT,
    TOPOLOGY_DIR,
    TOPOLOGY_FILE,
    worker_command,
)
from genweave.deploy.kubernetes.names import (
    INTERFACE_LABEL,
    MANAGED_BY,
    VERSION_LABEL,
    check_label_value,
    resource_name,
    selector,
)
from genweave.deploy.kubernetes.state import DATA_MOUNT, DATA_VOLUME, DatabaseSecret
from genweave.deploy.rundir import TLS_DIR_ENV
from genweave.topology import Group, Resources, Variant

__all__ = [
    "CPU_UTILISATION_TARGET",
    "PRESTOP_SECONDS",
    "RUN_AS_USER",
    "Workload",
    "autoscaler",
    "deployment",
    "disruption_budget",
    "http_port_name",
    "metadata",
    "stateful_set",
]

PRESTOP_SECONDS: Final = 5
"""How long a pod keeps serving after deletion starts, so endpoints and DNS drop it first."""
CPU_UTILISATION_TARGET: Final = 70
"""Percent of its CPU request an autoscaled group's pods aim for."""
RUN_AS_USER: Final = 10001
TLS_VOLUME: Final = "tls"
TLS_MOUNT: Final = "/etc/genweave/tls"
"""The unprivileged user the image creates (``genweave kube dockerfile``) and pods run as."""
CONFIG_HASH_ANNOTATION: Final = "genweave.dev/config-hash"
READINESS_PERIOD: Final = 2
LIVENESS_PERIOD: Final = 10
LIVENESS_FAILURES: Final = 3
LIVENESS_TIMEOUT: Final = 5
"""A busy model process may answer ``/healthz`` slowly; it is not dead for that."""
_MILLI: Final = 1000
_MAX_STABILISATION: Final = 3600
"""Kubernetes' upper bound on an HPA's stabilisation window, in seconds."""


@dataclass(frozen=True)
class Workload:
    """One Deployment's worth of pods: a group's primary version or one of its variants."""

    app: str
    import_path: str
    group: Group
    variant: Variant | None
    image: str
    namespace: str | None
    grace: float
    resources: Resources
    """What each pod asks for (the group's, with any default the export added)."""
    http_ports: tuple[int, ...]
    interface: str
    """A short hash of the interfaces of the group's components."""
    config_hash: str
    """A short hash of the topology parts the pods run with, so a change rolls them."""
    config_map: str
    database_secret: DatabaseSecret | None = None
    """The Secret whose database URL the pods get, for a stateful group."""
    volume_size: str | None = None
    """The size of the volume holding the pods' SQLite files; ``None``: no volume."""
    tls_secret: str | None = None
    """The Secret holding the group's certificate (``ca.pem``, ``GROUP.pem``,
    ``GROUP-key.pem``); ``None``: calls between pods are plain TCP."""

    @property
    def kind(self) -> str:
        """``StatefulSet`` for pods with a volume, else ``Deployment``."""
        return "Deployment" if self.volume_size is None else "StatefulSet"

    @property
    def variant_name(self) -> str | None:
        return None if self.variant is None else self.variant.name

    @property
    def name(self) -> str:
        return resource_name(self.app, self.group.name, self.variant_name)

    @property
    def selector(self) -> dict[str, str]:
        return selector(self.app, self.group.name, self.variant_name)

    @property
    def resource_labels(self) -> dict[str, str]:
        """Labels of the resources around the pods (Services, budgets, autoscalers)."""
        return {**self.selector, **MANAGED_BY}

    @property
    def labels(self) -> dict[str, str]:
        """The pods' labels: what they belong to, and what version and interface they run."""
        return {**self.resource_labels,
                VERSION_LABEL: check_label_value(self.group.version,
                                                 f"group '{self.group.name}' version"),
                INTERFACE_LABEL: self.interface}

    @property
    def replicas(self) -> int:
        return self.group.replicas if self.variant is None else self.variant.replicas

    @property
    def autoscaled(self) -> bool:
        return self.variant is None and self.group.autoscale is not None


def metadata(name: str, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    """A resource's ``metadata``; no namespace means the one ``kubectl`` is pointed at."""
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def http_port_name(port: int) -> str:
    return f"http-{port}"


def deployment(workload: Workload) -> dict[str, Any]:
    """The Deployment running ``workload``'s pods (no replica count when an HPA owns it)."""
    return _controller(workload, {
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}})


def stateful_set(workload: Workload) -> dict[str, Any]:
    """The StatefulSet running ``workload``'s pod with a volume claim for its SQLite files.

    Its ``serviceName`` is the group's headless Service (the one discovery
    resolves).  The claim is kept when the StatefulSet is deleted or scaled
    down (Kubernetes' default), so the data outlives the resource too.
    """
    assert workload.volume_size is not None, "only a workload with a volume is a StatefulSet"
    return _controller(workload, {
        "serviceName": workload.name,
        "updateStrategy": {"type": "RollingUpdate"},
        "volumeClaimTemplates": [{
            "metadata": {"name": DATA_VOLUME, "labels": workload.resource_labels},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": workload.volume_size}}},
        }]})


def _controller(workload: Workload, specific: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": workload.selector},
        **specific,
        "template": {
            "metadata": {"labels": workload.labels,
                         "annotations": {CONFIG_HASH_ANNOTATION: workload.config_hash}},
            "spec": _pod_spec(workload),
        },
    }
    if not workload.autoscaled:
        spec["replicas"] = workload.replicas
    return {"apiVersion": "apps/v1", "kind": workload.kind,
            "metadata": metadata(workload.name, workload.namespace, workload.labels),
            "spec": spec}


def _pod_spec(workload: Workload) -> dict[str, Any]:
    ports = [{"name": "rpc", "containerPort": RPC_PORT, "protocol": "TCP"},
             {"name": "probes", "containerPort": PROBE_PORT, "protocol": "TCP"}]
    ports += [{"name": http_port_name(p), "containerPort": p, "protocol": "TCP"}
              for p in workload.http_ports]
    container: dict[str, Any] = {
        "name": "worker",
        "image": workload.image,
        "command": worker_command(workload.import_path, workload.group.name, workload.grace,
                                  workload.variant_name),
        "env": [{"name": POD_IP_ENV,
                 "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
        + ([workload.database_secret.env()] if workload.database_secret else []),
        "ports": ports,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "probes"},
                           "periodSeconds": READINESS_PERIOD, "failureThreshold": 1},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "probes"},
                          "periodSeconds": LIVENESS_PERIOD, "timeoutSeconds": LIVENESS_TIMEOUT,
                          "failureThreshold": LIVENESS_FAILURES},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SECONDS)]}}},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "topology", "mountPath": TOPOLOGY_DIR, "readOnly": True}],
    }
    security: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": RUN_AS_USER,
                                "runAsGroup": RUN_AS_USER,
                                "seccompProfile": {"type": "RuntimeDefault"}}
    volumes: list[dict[str, Any]] = [{"name": "topology", "configMap": {
        "name": workload.config_map, "items": [{"key": TOPOLOGY_FILE, "path": TOPOLOGY_FILE}]}}]
    if workload.tls_secret is not None:
        container["env"].append({"name": TLS_DIR_ENV, "value": TLS_MOUNT})
        container["volumeMounts"].append({"name": TLS_VOLUME, "mountPath": TLS_MOUNT,
                                          "readOnly": True})
        volumes.append({"name": TLS_VOLUME, "secret": {"secretName": workload.tls_secret,
                                                       "defaultMode": 0o440}})
        security |= {"fsGroup": RUN_AS_USER}  # the key is readable by the pod's group only
    if workload.volume_size is not None:
        container["volumeMounts"].append({"name": DATA_VOLUME, "mountPath": DATA_MOUNT})
        # A fresh volume belongs to root: the kubelet hands it to the pod's group once.
        security |= {"fsGroup": RUN_AS_USER, "fsGroupChangePolicy": "OnRootMismatch"}
    resources = _resources(workload.resources)
    if resources:
        container["resources"] = {"requests": resources, "limits": dict(resources)}
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": math.ceil(workload.grace) + PRESTOP_SECONDS,
        "securityContext": security,
        "containers": [container],
        "volumes": volumes,
    }


def _resources(resources: Resources) -> dict[str, str]:
    amounts: dict[str, str] = {}
    if resources.cpus is not None:
        amounts["cpu"] = _cpu_quantity(resources.cpus)
    if resources.memory is not None:
        amounts["memory"] = resources.memory
    if resources.gpus:
        amounts["nvidia.com/gpu"] = str(resources.gpus)
    return amounts


def _cpu_quantity(cpus: float) -> str:
    """``2`` -> ``"2"``, ``0.5`` -> ``"500m"``: Kubernetes counts CPUs to the thousandth."""
    milli = max(1, math.ceil(round(cpus * _MILLI, 6)))
    return str(milli // _MILLI) if milli % _MILLI == 0 else f"{milli}m"


def disruption_budget(workload: Workload) -> dict[str, Any]:
    """At most one of ``workload``'s pods evicted at a time (node drains, upgrades)."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": metadata(workload.name, workload.namespace, workload.resource_labels),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": workload.selector}}}


def autoscaler(workload: Workload) -> dict[str, Any]:
    """An autoscaling/v2 HPA between the group's ``autoscale`` bounds, on CPU utilisation.

    Its stabilisation windows are the group's ``up_delay`` and ``down_delay``,
    as the local autoscaler's are.
    """
    scale = workload.group.autoscale
    assert scale is not None, "only autoscaled groups get an autoscaler"
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(workload.name, workload.namespace, workload.resource_labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": workload.kind,
                               "name": workload.name},
            "minReplicas": scale.min,
            "maxReplicas": scale.max,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu",
                "target": {"type": "Utilization",
                           "averageUtilization": CPU_UTILISATION_TARGET}}}],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": _window(scale.up_delay)},
                "scaleDown": {"stabilizationWindowSeconds": _window(scale.down_delay)},
            },
        },
    }


def _window(seconds: float) -> int:
    return min(_MAX_STABILISATION, math.ceil(seconds))
