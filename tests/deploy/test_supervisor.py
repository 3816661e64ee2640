"""Supervising replica processes: output, restarts with backoff, failure, graceful stop, kill.

A fake worker (tests/apps/fake_worker.py) stands in for the real one, so each
path is driven exactly; readiness, which the deployer learns from the control
socket, is here taken from the fake's ``ready`` line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import eventually
from genweave.deploy import supervisor as supervisor_module
from genweave.deploy.supervisor import Replica, Supervisor, wait_started
from genweave.topology import Group, Topology

pytestmark = pytest.mark.process

TOPOLOGY = Topology("fake", (Group("g", ("Anything",)),))


class Harness:
    """A supervisor over fake workers, marking a replica ready when it prints ``ready``."""

    def __init__(self, mode: str, rundir: Path, grace: float = 5.0) -> None:
        self.logs: list[str] = []
        self.gone: list[str] = []
        self.replicas: dict[str, Replica] = {}
        self.supervisor = Supervisor(mode, "unix:/nowhere", rundir, grace, self.log,
                                     on_gone=lambda replica: self.gone.append(replica.name))

    def log(self, line: str) -> None:
        self.logs.append(line)
        name, _, text = line.partition("] ")
        replica = self.replicas.get(name.lstrip("["))
        if replica is not None and text.startswith("ready"):
            replica.ready.set()

    def replica(self, index: int = 0) -> Replica:
        replica = Replica("g", index, TOPOLOGY)
        self.replicas[replica.name] = replica
        return replica


@pytest.fixture(autouse=True)
def fake_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(supervisor_module, "WORKER_MODULE", "fake_worker")
    yield


async def test_output_is_prefixed_and_a_stop_is_graceful(tmp_path: Path) -> None:
    harness = Harness("serve", tmp_path)
    replica = harness.replica()
    harness.supervisor.start(replica)
    assert await wait_started([replica], timeout=30) is None
    pid = replica.pid
    assert pid is not None and harness.logs == [f"[g/0] ready pid {pid}"]
    await harness.supervisor.stop(replica)
    assert harness.logs[-1] == "[g/0] draining"
    assert (replica.state, replica.pid, replica.restarts) == ("stopped", None, 0)
    assert harness.gone[0] == "g/0"  # told at once, before the process was gone


async def test_a_replica_that_dies_after_start_is_restarted_with_growing_backoff(
    tmp_path: Path,
) -> None:
    harness = Harness("ready-then-exit", tmp_path)
    replica = harness.replica()
    harness.supervisor.start(replica)
    await eventually(lambda: replica.restarts >= 2, 30)
    await harness.supervisor.stop(replica)
    restarts = [line for line in harness.logs if line.startswith("[supervisor]")]
    assert restarts[:2] == ["[supervisor] g/0 exited with code 1; restarting in 0.1s",
                            "[supervisor] g/0 exited with code 1; restarting in 0.2s"]
    assert replica.state == "stopped"


async def test_a_replica_that_exits_before_ready_fails_with_its_output(tmp_path: Path) -> None:
    harness = Harness("exit-early", tmp_path)
    replicas = [harness.replica(0), harness.replica(1)]
    for replica in replicas:
        harness.supervisor.start(replica)
    failure = await wait_started(replicas, timeout=30)
    assert failure is not None
    assert failure.endswith("exited before it was ready; its last output:\n    cannot start")
    await eventually(lambda: all(r.state == "failed" for r in replicas), 10)
    assert not any(line.startswith("[supervisor]") for line in harness.logs)  # no restart


async def test_waiting_for_a_start_times_out_with_the_replicas_not_ready(tmp_path: Path) -> None:
    harness = Harness("stubborn", tmp_path, grace=0.0)
    replica = harness.replica()
    harness.replicas.clear()  # never marked ready
    harness.supervisor.start(replica)
    assert await wait_started([replica], timeout=0.5) == "replicas g/0 not ready within 0.5s"
    harness.supervisor.closing = True
    await harness.supervisor.stop(replica)  # ignores SIGTERM: killed after grace + margin
    assert "[supervisor] g/0 did not stop in time; killing it" in harness.logs
    assert replica.state == "stopped" and replica.pid is None


async def test_a_stopped_replica_starts_again_as_new(tmp_path: Path) -> None:
    harness = Harness("serve", tmp_path)
    replica = harness.replica()
    harness.supervisor.start(replica)
    assert await wait_started([replica], timeout=30) is None
    first = replica.pid
    await harness.supervisor.stop(replica)
    harness.supervisor.start(replica)
    assert replica.state == "starting" and not replica.ready.is_set()
    assert await wait_started([replica], timeout=30) is None
    assert replica.pid not in (None, first)
    await harness.supervisor.stop(replica)
