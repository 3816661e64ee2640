"""Attaching to a running deployment from another process's point of view: its rundir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sample_app import Front, Model

from genweave import Unavailable, deployment
from genweave.deploy.attach import attach, default_rundir
from genweave.deploy.local import LocalDeployer

pytestmark = pytest.mark.process


def test_the_default_rundir_is_per_app_and_can_be_moved(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.delenv("GENWEAVE_RUNDIR", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert default_rundir("hello").parent.name.startswith("genweave-")
    assert default_rundir("hello").name == "hello"
    monkeypatch.setenv("GENWEAVE_RUNDIR", str(tmp_path))
    assert default_rundir("hello") == tmp_path / "hello"


async def test_nothing_running_says_how_to_start_it(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="no running deployment at .*'genweave run'"):
        await attach(tmp_path)


@pytest_asyncio.fixture(scope="module")
async def supervised(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalDeployer]:
    rundir = tmp_path_factory.mktemp("rundir")
    running = deployment("sample_app:app", "hybrid", "process", rundir=rundir,
                         log=lambda line: None)
    assert isinstance(running, LocalDeployer)
    async with running:
        yield running


async def test_an_attached_client_calls_sees_status_and_metrics_then_detaches(
    supervised: LocalDeployer,
) -> None:
    attached = await attach(supervised.rundir)
    try:
        assert attached.app.name == "sample" and attached.topology == supervised.topology
        assert await attached.get(Front).total([1, 2, 3]) == 6
        assert [w async for w in attached.get(Front).shout("a b")] == ["A", "B"]
        status = await attached.runtime.status()
        assert status.ready() and [r.name for r in status.replicas] == ["core/0", "model/0"]
        info = await attached.control.describe()
        assert info.import_path == "sample_app:app" and info.pid == supervised.info().pid
        metrics = await attached.runtime.metrics()
        assert sorted(m.replica for m in metrics) == ["core/0", "model/0"]
    finally:
        await attached.stop()
    assert await supervised.get(Model).add(1, 2) == 3  # detaching stopped nothing
