"""Group resources on the local deployer: each replica sees its own GPUs; CPUs and memory pass.

The devices are chosen by ``genweave.topology.devices`` (tested there); here,
that the deployer gives every replica its share and that the process it
starts sees exactly those devices in ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_app import app

from conftest import eventually
from genweave import TopologyError
from genweave.deploy import supervisor as supervisor_module
from genweave.deploy.local import LocalDeployer
from genweave.deploy.supervisor import Replica, Supervisor
from genweave.topology import GPU_COUNT_ENV, Group, Resources, Topology, Variant

TOPOLOGY = Topology("gpus", (
    Group("core", ("Front", "Store"), resources=Resources(cpus=0.5, memory="256Mi")),
    Group("model", ("Model",), replicas=2, resources=Resources(gpus=2),
          variants=(Variant("b", weight=10),)),
))


def deployer(tmp_path: Path, **options: int) -> LocalDeployer:
    return LocalDeployer(app, TOPOLOGY, import_path="sample_app:app", rundir=tmp_path,
                         **options)  # type: ignore[arg-type]


def devices(deployment: LocalDeployer) -> dict[str, tuple[int, ...]]:
    return {f"{r.name}{'/' + r.variant if r.variant else ''}": r.devices
            for replicas in deployment.replicas.values() for r in replicas}


def test_each_replica_gets_its_own_devices(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(GPU_COUNT_ENV, raising=False)
    assert devices(deployer(tmp_path)) == {
        "core/0": (),  # no GPUs asked: its environment is left alone
        "model/0": (0, 1), "model/1": (2, 3), "model/2/b": (4, 5),
    }


def test_the_device_count_comes_from_the_option_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GPU_COUNT_ENV, "2")
    assert devices(deployer(tmp_path))["model/1"] == (0, 1)  # two devices: shared
    assert devices(deployer(tmp_path, gpu_count=4))["model/2/b"] == (0, 1)
    monkeypatch.setenv(GPU_COUNT_ENV, "two")
    with pytest.raises(TopologyError, match="GENWEAVE_GPU_COUNT='two': expected the number"):
        deployer(tmp_path)
    monkeypatch.setenv(GPU_COUNT_ENV, "1")
    with pytest.raises(TopologyError, match="group 'model' asks for 2 GPUs per replica"):
        deployer(tmp_path)


@pytest.mark.process
async def test_a_replica_process_sees_only_its_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "print_devices.py").write_text(
        "import os\nprint('devices', os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(supervisor_module, "WORKER_MODULE", "print_devices")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # what this machine's shell says
    logs: list[str] = []
    supervisor = Supervisor("sample_app:app", "unix:/nowhere", tmp_path, 1.0, logs.append,
                            on_gone=lambda replica: None)
    with_gpus = Replica("model", 1, TOPOLOGY, devices=(2, 3))
    without = Replica("core", 0, TOPOLOGY)
    for replica in (with_gpus, without):
        supervisor.start(replica)
    await eventually(lambda: with_gpus.state == without.state == "failed", 30)
    assert sorted(logs) == ["[core/0] devices 7", "[model/1] devices 2,3"]
