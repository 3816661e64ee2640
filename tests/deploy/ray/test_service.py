"""``genweave run --on ray``: the app on Ray in the foreground, its control socket attached
to by ``status``, ``call`` and ``scale`` as under the local supervisor, stopped by a signal."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest
from sample_app import Model

from conftest import eventually
from genweave.application import load_app
from genweave.cli import main
from genweave.deploy.attach import attach
from genweave.deploy.control import CONTROL_SOCKET
from genweave.deploy.ray.service import RayService
from genweave.status import render_status
from genweave.topology import preset

pytestmark = [pytest.mark.ray, pytest.mark.slow]


async def test_status_call_and_scale_attach_to_a_ray_deployment_then_sigterm_stops_it(
    ray_cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    app = load_app("sample_app:app")
    out: list[str] = []
    service = RayService(app, preset("microservices", app), "sample_app:app", rundir=tmp_path,
                         call="Model.add {\"a\": 40}", out=out.append, log=lambda line: None)
    running = asyncio.create_task(service.run())
    await eventually(lambda: (tmp_path / CONTROL_SOCKET).exists() or running.done(), 60)
    attached = await attach(tmp_path)
    try:
        assert await attached.get(Model).add(1, 2) == 3
        await render_status(attached, attached.runtime, 0.2)
        scaled = await attached.control.scale("model", 2)
        assert [r.state for r in scaled.replicas if r.group == "model"] == ["ready", "ready"]
    finally:
        await attached.stop()
    shown = capsys.readouterr().out
    assert "model" in shown and "store" in shown
    assert out[0].startswith("app 'sample', topology 'microservices' on Ray")
    assert out[1] == "41" and out[2] == "serving on Ray; press Ctrl-C to stop"
    service.signals.put_nowait(signal.SIGTERM)
    assert await running == 0
    assert not (tmp_path / CONTROL_SOCKET).exists()


def test_an_address_without_on_ray_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "sample_app:app", "--address", "auto"]) == 1
    assert "--address names a Ray cluster; add --on ray" in capsys.readouterr().err
