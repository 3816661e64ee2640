"""A replica beside hostile peers on its socket: it stays up, bounded, and serves the others.

``tests/support/hostile_peers.py`` (its own process) sends garbage, declares
4 GiB frames, leaves connections half-open, drips a handshake byte by byte,
floods connections, and opens 500 streams it never reads, all at once, for
ATTACK_S seconds.  Meanwhile a well-behaved caller calls ``Model.add`` one call
after the other.  The bounds stated here are what is checked:

- the replica's process stays up and its memory grows by at most MAX_GROWTH_MIB;
- the caller's median latency stays within MAX_P50_FACTOR of its median before
  (baseline floored at P50_FLOOR_S: a 100 µs median on a shared machine is noise);
- connection errors are logged at a bounded rate: at most 2 bursts of lines.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Final

import pytest
from sample_app import Model, app

from genweave import deployment
from genweave.deploy.local import LocalDeployer
from genweave.topology import preset
from genweave.transport.logs import DEFAULT_BURST

pytestmark = [pytest.mark.process, pytest.mark.slow]

ATTACK_S: Final = 6.0
MAX_GROWTH_MIB: Final = 64.0
MAX_P50_FACTOR: Final = 10.0
P50_FLOOR_S: Final = 0.001
PEERS: Final = Path(__file__).resolve().parent.parent / "support" / "hostile_peers.py"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def latencies(model: Model, calls: int) -> list[float]:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        assert await model.add(1, 2) == 3
        seconds.append(time.perf_counter() - start)
    return seconds


async def test_a_replica_stays_up_bounded_and_responsive_beside_hostile_peers() -> None:
    logs: list[str] = []
    topology = preset("microservices", app)
    async with deployment("sample_app:app", topology, "process", log=logs.append) as running:
        assert isinstance(running, LocalDeployer)
        pid = running.pid("model")
        assert pid is not None
        model = running.get(Model)
        await latencies(model, 200)  # warm
        before = statistics.median(await latencies(model, 500))
        rss_before = rss_mib(pid)
        peers = await asyncio.create_subprocess_exec(
            sys.executable, str(PEERS), running.membership.snapshot().groups["model"][0],
            app.name, str(ATTACK_S), stdout=asyncio.subprocess.PIPE)
        try:
            await asyncio.sleep(1.0)  # the attack is under way (its connections are held)
            during = statistics.median(await latencies(model, 500))
            peak = rss_mib(pid)
            out, _ = await asyncio.wait_for(peers.communicate(), ATTACK_S + 30)
        finally:
            if peers.returncode is None:
                peers.kill()
                await peers.wait()
        done = json.loads(out)
        assert running.pid("model") == pid, "the replica restarted"
        assert await model.add(2, 2) == 4
    errors = [line for line in logs if "closing connection from" in line]
    report = {"attack": done, "p50_before_ms": before * 1e3, "p50_during_ms": during * 1e3,
              "rss_before_mib": rss_before, "rss_peak_mib": peak, "error_lines": len(errors)}
    assert done["garbage"] > 50 and done["huge"] > 50 and done["streams"] == 500, report
    assert peak - rss_before <= MAX_GROWTH_MIB, report
    assert during <= MAX_P50_FACTOR * max(before, P50_FLOOR_S), report
    assert len(errors) <= 2 * DEFAULT_BURST, report
