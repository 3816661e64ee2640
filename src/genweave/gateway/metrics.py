"""``/metrics``: every replica's call metrics in the Prometheus text format.

The gateway collects snapshots from all replicas (through ``Runtime``) at
scrape time, so one scrape of any gateway replica shows the whole deployment.
The families are built by ``genweave.observe.prometheus``, which a worker's
probe port uses too.
"""

from __future__ import annotations

from collections.abc import Iterable

from genweave.observe.prometheus import (
    CONTENT_TYPE,
    ReplicaRow,
    call_families,
    exposition,
    replica_families,
)
from genweave.runtime.introspect import DeploymentStatus, ReplicaMetrics

__all__ = ["CONTENT_TYPE", "render"]


def render(status: DeploymentStatus, metrics: Iterable[ReplicaMetrics]) -> bytes:
    """The Prometheus exposition of one deployment snapshot."""
    rows = (ReplicaRow(r.group, r.name, r.version, r.variant, r.state == "ready", r.restarts)
            for r in status.replicas)
    return exposition([*call_families(metrics), *replica_families(rows)])
