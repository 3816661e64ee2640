"""``genweave run``'s foreground service: one per rundir, reports, signals, graceful stop."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest
from sample_app import app

from conftest import eventually
from genweave.deploy.control import CONTROL_SOCKET
from genweave.deploy.local import DeployError, LocalDeployer
from genweave.deploy.serve import ForegroundService
from genweave.topology import preset


def test_a_second_copy_on_the_same_rundir_is_refused(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as first:
        first.bind(str(tmp_path / CONTROL_SOCKET))
        first.listen()
        service = ForegroundService(app, preset("monolith", app), "sample_app:app", tmp_path)
        with pytest.raises(DeployError, match="'sample' is already running with rundir"):
            asyncio.run(service.run())


@pytest.mark.process
async def test_it_reports_failures_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    (tmp_path / CONTROL_SOCKET).touch()  # left over by a crash: nobody listens, so no refusal
    lines: list[str] = []

    async def on_ready(deployer: LocalDeployer) -> None:
        raise RuntimeError(f"{len(deployer.replicas)} group(s), but no console")

    service = ForegroundService(app, preset("monolith", app), "sample_app:app", tmp_path,
                                call="Model.nope {}", out=lines.append, on_ready=on_ready,
                                log=lambda line: None)
    task = asyncio.create_task(service.run())
    await eventually(lambda: "serving; press Ctrl-C to stop" in lines, 30)
    await eventually(lambda: "startup task failed: RuntimeError: 1 group(s), but no console"
                     in lines)
    pid = service.deployer.pid("main")
    assert lines[0].splitlines() == [
        f"app 'sample', topology 'monolith', rundir {tmp_path}",
        f"  group main             x1  pids {pid:<14} Front, Model, Store"]
    assert lines[1].startswith("call failed: ValueError: Model has no method 'nope'")
    service.signals.put_nowait(signal.SIGINT)
    assert await asyncio.wait_for(task, 30) == 0
    assert "stopping: finishing calls in flight (Ctrl-C again does not hurry it)" in lines
    assert service.deployer.pid("main") is None
