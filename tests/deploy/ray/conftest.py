"""A real multi-node Ray cluster on this machine, one per test module that asks for it.

Two nodes, each with a custom resource of its own (``node_a``, ``node_b``), so
that a test can put groups on distinct nodes and check where they landed.  The
actors' processes find the test apps through ``PYTHONPATH``.  Without Ray the
tests are skipped with the reason (failed under CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NODE_A = "node_a"
NODE_B = "node_b"
_CPUS_PER_NODE = 4
_TEST_APPS = Path(__file__).resolve().parents[2] / "apps"


def import_ray() -> Any:
    """``ray``, or skip the test saying why (fail under CI)."""
    try:
        import ray
    except ImportError:
        reason = "Ray is not installed here: pip install 'genweave[ray]'"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return ray


@pytest.fixture
def ray_installed() -> Any:
    """``ray`` (not started), or skip saying why (fail under CI)."""
    return import_ray()


@dataclass(frozen=True)
class RayNodes:
    """The running cluster and the custom resource that pins a group to each of its nodes."""

    cluster: Any
    a: str = NODE_A
    b: str = NODE_B


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayNodes]:
    """Two Ray nodes (``node_a``, ``node_b``), this process connected as the driver."""
    ray = import_ray()
    from ray.cluster_utils import Cluster

    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(_TEST_APPS), before) if p)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": _CPUS_PER_NODE, "resources": {NODE_A: 100}, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=_CPUS_PER_NODE, resources={NODE_B: 100})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, namespace="genweave", log_to_driver=False)
        yield RayNodes(cluster)
    finally:
        ray.shutdown()
        for node in [*cluster.worker_nodes, cluster.head_node]:
            if node is not None:
                node.kill_all_processes(check_alive=False, allow_graceful=True)
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before
