"""The command line: run, call and topology, driven as a user would."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sample_app import app

from conftest import eventually
from genweave.cli import main
from genweave.deploy.serve import ForegroundService
from genweave.topology import preset

APPS_DIR = Path(__file__).resolve().parent / "apps"


def test_parse_assignments() -> None:
    from genweave.cli import parse_assignments

    assert parse_assignments(["Generator.backend=transformers", "Generator.seed=3",
                              'Moderator.blocked=["a"]']) == {
        "Generator": {"backend": "transformers", "seed": 3}, "Moderator": {"blocked": ["a"]}}


def test_topology_command_prints_groups(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "sample_app:app", "--topology", "hybrid"]) == 0
    out = capsys.readouterr().out
    assert "topology 'hybrid' for app 'sample'" in out
    assert "core             x1  Front, Store" in out


def test_topology_command_prints_group_options_and_ref_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "ops.toml"
    path.write_text('preset = "hybrid"\n[groups.model]\nmax_in_flight = 8\n'
                    'autoscale = { max = 3, target_in_flight = 2 }\n'
                    '[groups.model.variants.b]\nweight = 10\n'
                    '[refs.Model]\ntimeout = 2.0\n')
    assert main(["topology", "sample_app:app", "--topology", str(path)]) == 0
    out = capsys.readouterr().out
    assert ("model            x1  Model  [autoscale 1-3 at 2 in flight/replica; "
            "max 8 in flight/replica; variant b (10%, x1)]") in out
    assert 'refs Model: {"timeout":2.0' in out


def test_errors_are_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "sample_app:app", "--topology", "microservice"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("genweave: TopologyError: unknown topology preset 'microservice'")
    assert main(["topology", "sample_app"]) == 1
    assert "expected MODULE:APP" in capsys.readouterr().err
    assert main(["topology", "no_such_module:app"]) == 1
    assert "'no_such_module:app': no module named 'no_such_module'" in capsys.readouterr().err


def genweave(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "genweave", *args], cwd=APPS_DIR,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.process
async def test_run_serves_until_sigterm_and_call_attaches(tmp_path: Path) -> None:
    lines: list[str] = []
    service = ForegroundService(app, preset("microservices", app), "sample_app:app",
                                rundir=tmp_path, call='Model.add {"a": 40, "b": 2}',
                                out=lines.append, log=lines.append)
    task = asyncio.create_task(service.run())
    await eventually(lambda: "serving; press Ctrl-C to stop" in lines, 30)
    assert "42" in lines
    assert "\n  group model " in "\n".join(lines)

    result = await asyncio.to_thread(genweave, "call", "--rundir", str(tmp_path), "Front.shout",
                                     '{"text": "streamed words"}')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['"STREAMED"', '"WORDS"']
    bad = await asyncio.to_thread(genweave, "call", "--rundir", str(tmp_path), "Model.add",
                                  '{"a": "x"}')
    assert bad.returncode == 1
    assert "InvalidArgument: Model.add: parameter 'a': expected `int`, got `str`" in bad.stderr

    status = await asyncio.to_thread(genweave, "status", "--rundir", str(tmp_path),
                                     "--interval", "0.2")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == "app 'sample', topology 'microservices': ready"
    assert any(line.split()[:4] == ["model", "model/0", "1", "ready"] for line in lines)
    add = next(line for line in lines if line.startswith("Model.add "))
    assert add.split()[-2:] == ["1", "0"]  # one call (from --call), no errors

    scaled = await asyncio.to_thread(genweave, "scale", "model", "2", "--rundir", str(tmp_path))
    assert scaled.returncode == 0, scaled.stderr
    assert scaled.stdout.startswith("model: 2 replica(s): model/0 ready pid ")
    unknown = await asyncio.to_thread(genweave, "scale", "modle", "2", "--rundir", str(tmp_path))
    assert unknown.returncode == 1 and "has no group 'modle'" in unknown.stderr

    rolled = await asyncio.to_thread(genweave, "rollout", "model", "--rundir", str(tmp_path))
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.splitlines()[-1].startswith("model: version 2 serves: model/2 ready pid ")
    refused = await asyncio.to_thread(genweave, "rollout", "model", "--set", "Model.size=3",
                                      "--rundir", str(tmp_path))
    assert refused.returncode == 1 and "component 'Model' takes no settings" in refused.stderr
    malformed = await asyncio.to_thread(genweave, "rollout", "model", "--set", "size=3",
                                        "--rundir", str(tmp_path))
    assert malformed.returncode == 1 and "expected COMPONENT.KEY=VALUE" in malformed.stderr

    service.signals.put_nowait(signal.SIGTERM)
    assert await asyncio.wait_for(task, 30) == 0
    assert not list(tmp_path.glob("*.sock"))


def test_call_without_a_running_app_says_how_to_start_one(tmp_path: Path) -> None:
    result = genweave("call", "--rundir", str(tmp_path), "Model.stats")
    assert result.returncode == 1
    assert "no running deployment" in result.stderr and "genweave run" in result.stderr


@pytest.mark.parametrize(("flags", "message"), [
    (["--group", "model", "--listen", "tcp:0.0.0.0:7070", "--discovery", "dns"],
     "DeployError: --listen tcp:0.0.0.0:7070 binds every interface, which is no address a "
     "caller can reach; say where callers reach this replica with --advertise HOST:PORT"),
    (["--group", "core", "--listen", "tcp:127.0.0.2:7070"],
     "TopologyError: static discovery: group 'model' has no address, and group 'core' calls "
     "it; list its replicas as [groups.model] addresses"),
    (["--group", "gpu", "--listen", "tcp:127.0.0.2:7070"],
     "TopologyError: topology 'hybrid' has no group 'gpu'"),
    (["--group", "model", "--listen", "tcp:127.0.0.2:7070", "--variant", "big"],
     "TopologyError: group 'model' has no variant 'big'"),
    (["--group", "model", "--listen", "unix:/tmp/x.sock", "--discovery", "local"],
     "DeployError: --discovery local is for replicas the local supervisor starts"),
])
def test_worker_flags_that_cannot_work_are_refused_before_it_starts(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GENWEAVE_WORKER", "GENWEAVE_ADDRESSES_MODEL", "GENWEAVE_ADDRESSES_CORE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["worker", "sample_app:app", "--topology", "hybrid", *flags]) == 1
    assert capsys.readouterr().err.startswith(f"genweave: {message}")
