"""How pods are found and who may reach them: Services and NetworkPolicies.

- **Discovery**: a headless Service per Deployment (``clusterIP: None``): its
  name resolves, through the pod's resolver, to one A record per *ready* pod
  (``publishNotReadyAddresses: false``), which is exactly the membership a
  caller's DNS discovery follows.  No virtual IP sits in between, so
  genweave's own balancing (least outstanding calls) and retries decide
  which replica gets a call.
- **HTTP**: a group that serves HTTP (``genweave.deploy.kubernetes.http``)
  gets a ClusterIP Service on those ports, for an Ingress, a Gateway API route
  or ``kubectl port-forward`` to point at.
- **NetworkPolicy** per group, from the Ref graph
  (``genweave.deploy.kubernetes.access``): the RPC port accepts only the
  groups that call it; the probe port (kubelet's probes, Prometheus) and the
  HTTP ports accept anyone.  A group nobody calls accepts no RPC at all.
"""

from __future__ import annotations

from typing import Any

from genweave.deploy.kubernetes.command import PROBE_PORT, RPC_PORT
from genweave.deploy.kubernetes.names import (
    APP_LABEL,
    GROUP_LABEL,
    MANAGED_BY,
    resource_name,
)
from genweave.deploy.kubernetes.workload import Workload, http_port_name, metadata

__all__ = ["discovery_service", "http_service", "network_policy"]


def discovery_service(workload: Workload) -> dict[str, Any]:
    """The headless Service whose DNS name lists ``workload``'s ready pods."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(workload.name, workload.namespace, workload.resource_labels),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": False,
            "selector": workload.selector,
            "ports": [{"name": "rpc", "port": RPC_PORT, "targetPort": "rpc",
                       "protocol": "TCP"}],
        },
    }


def http_service(workload: Workload) -> dict[str, Any]:
    """A ClusterIP Service on the HTTP ports of a group's primary pods."""
    name = resource_name(workload.app, workload.group.name, suffix="http")
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": metadata(name, workload.namespace, workload.resource_labels),
        "spec": {
            "type": "ClusterIP",
            "selector": workload.selector,
            "ports": [{"name": http_port_name(p), "port": p, "targetPort": http_port_name(p),
                       "protocol": "TCP"} for p in workload.http_ports],
        },
    }


def network_policy(app: str, group: str, namespace: str | None, callers: tuple[str, ...],
                   http_ports: tuple[int, ...]) -> dict[str, Any]:
    """Ingress to every pod of ``group`` (all variants): RPC from ``callers`` only."""
    rules: list[dict[str, Any]] = []
    if callers:
        rules.append({
            "from": [{"podSelector": {
                "matchLabels": {APP_LABEL: app},
                "matchExpressions": [{"key": GROUP_LABEL, "operator": "In",
                                      "values": list(callers)}],
            }}],
            "ports": [{"port": RPC_PORT, "protocol": "TCP"}],
        })
    rules.append({"ports": [{"port": PROBE_PORT, "protocol": "TCP"}]})
    if http_ports:
        rules.append({"ports": [{"port": p, "protocol": "TCP"} for p in http_ports]})
    pods = {APP_LABEL: app, GROUP_LABEL: group}
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": metadata(resource_name(app, group), namespace, {**pods, **MANAGED_BY}),
        "spec": {"podSelector": {"matchLabels": pods}, "policyTypes": ["Ingress"],
                 "ingress": rules},
    }
