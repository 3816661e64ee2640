"""``genweave worker`` with DNS discovery, the system resolver answered by a real DNS server.

The test makes a network namespace of its own: its loopback carries the
addresses of three replicas and of a DNS server (10.231.0.x, which exist only
in there), and ``/etc/netns/<ns>/resolv.conf`` points its resolver at that
server with a Kubernetes-like search domain, so a short name such as
``sample-model`` is completed as in a pod.  The server answers from a file the
test rewrites, as a headless Service follows its ready pods.  Replicas and a
client (``tests/apps/discovery_client.py``) run inside the namespace; the
namespace, its resolver file and every process are removed afterwards, also
when the test fails.  It needs root and iproute2: under CI their absence
fails the test, elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio
from worker_process import Process, Processes, python

from conftest import eventually
from genweave.runtime.discovery import RESOLVE_INTERVAL

pytestmark = [pytest.mark.process, pytest.mark.slow]

APPS: Final = Path(__file__).resolve().parents[1] / "apps"
SUPPORT: Final = APPS.parent / "support"
SEARCH: Final = "genweave-test.svc.cluster.local"
DNS_ADDRESS: Final = "10.231.0.53"
PORT: Final = 7070
CORE, MODEL_A, MODEL_B = "10.231.0.2", "10.231.0.3", "10.231.0.4"
MARGIN: Final = 3.0
"""Seconds allowed beyond a stated time, for a machine busy with other tests."""


class Namespace:
    """A network namespace with its own loopback, addresses and resolver configuration."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.etc = Path("/etc/netns") / name

    @property
    def prefix(self) -> list[str]:
        """What runs a command inside it (with its resolv.conf over /etc/resolv.conf)."""
        return ["ip", "netns", "exec", self.name]

    def create(self, addresses: list[str]) -> None:
        _ip("netns", "add", self.name)
        self.etc.mkdir(parents=True)
        (self.etc / "resolv.conf").write_text(
            f"nameserver {DNS_ADDRESS}\nsearch {SEARCH}\noptions ndots:5 timeout:1 attempts:2\n")
        self.run("ip", "link", "set", "lo", "up")
        for address in addresses:
            self.run("ip", "addr", "add", f"{address}/32", "dev", "lo")

    def run(self, *command: str) -> None:
        _ip("netns", "exec", self.name, *command)

    def remove(self) -> None:
        """Kill what still runs in it, delete it and its files: safe to call at any stage."""
        listed = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                                text=True, check=False)
        for pid in listed.stdout.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        shutil.rmtree(self.etc, ignore_errors=True)


def _ip(*arguments: str) -> None:
    subprocess.run(["ip", *arguments], check=True, capture_output=True, text=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the DNS discovery test cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0:
        _unavailable("network namespaces need root")
    if shutil.which("ip") is None:
        _unavailable("iproute2's 'ip' command is not installed")
    made = Namespace(f"gw-dns-{os.getpid()}")
    try:
        made.create([CORE, MODEL_A, MODEL_B, DNS_ADDRESS])
    except (subprocess.CalledProcessError, OSError) as exc:
        made.remove()
        detail = getattr(exc, "stderr", "") or exc
        _unavailable(f"cannot make a network namespace: {detail}")
    try:
        yield made
    finally:
        made.remove()


@pytest_asyncio.fixture
async def processes() -> AsyncIterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        await started.close()


class Records:
    """The DNS server's answers: each group's headless Service name -> its replicas' addresses."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, groups: dict[str, list[str]]) -> None:
        table = {f"sample-{group}.{SEARCH}.": ips for group, ips in groups.items()}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(table))
        temporary.replace(self.path)  # the server never reads half a file


def replica(group: str, host: str) -> list[str]:
    """A replica of the hybrid sample app that finds the others by DNS."""
    return ["sample_app:app", "--group", group, "--topology", "hybrid",
            "--listen", f"tcp:{host}:{PORT}", "--discovery", "dns", "--grace", "5"]


async def test_replicas_found_by_dns_call_each_other_leave_when_killed_and_rejoin(
    namespace: Namespace, processes: Processes, tmp_path: Path,
) -> None:
    inside = namespace.prefix
    records = Records(tmp_path / "records.json")
    records.set({"core": [CORE], "model": [MODEL_A, MODEL_B]})
    server = await processes.spawn(
        [*inside, *python(str(SUPPORT / "dns_server.py"), DNS_ADDRESS, str(records.path))])
    await server.printed("serving")
    core = await processes.worker(replica("core", CORE), prefix=inside)
    model_a = await processes.worker(replica("model", MODEL_A), prefix=inside)
    model_b = await processes.worker(replica("model", MODEL_B), prefix=inside)
    for started in (core, model_a, model_b):
        await started.ready()
    client = await processes.spawn(
        [*inside, *python(str(APPS / "discovery_client.py"), "sample_app:app", "hybrid")])
    await client.printed('{"ready": true}')

    async def members() -> list[str]:
        return list((await client.ask(members="model"))["members"])

    both = [f"tcp:{MODEL_A}:{PORT}", f"tcp:{MODEL_B}:{PORT}"]
    assert await members() == both  # the short name, completed by the search domain

    # A call crosses processes: client -> core -> model, each found by its Service's name.
    asked = await client.ask(call="Front.ask", args={"question": "found by name"})
    assert asked["errors"] == [] and asked["results"][0]["text"] == "name by found"
    pids = await client.ask(call="Model.pid", times=8)
    assert set(pids["results"]) == {model_a.pid, model_b.pid}

    # SIGKILL one model replica while DNS still lists it: calls keep succeeding, and it
    # leaves the client's set at the client's first failed connection to it.
    await model_b.kill()
    after = await client.ask(call="Model.pid", times=10)
    assert after == {"results": [model_a.pid] * 10, "errors": []}
    assert await members() == [f"tcp:{MODEL_A}:{PORT}"]
    through_core = await client.ask(call="Front.total", args={"values": [1, 2, 3]}, times=4)
    assert through_core == {"results": [6] * 4, "errors": []}

    # Kubernetes drops the dead pod; a new one gets its address, becomes ready, is listed.
    records.set({"core": [CORE], "model": [MODEL_A]})
    await eventually(lambda: _resolved_without(client, MODEL_B),
                     RESOLVE_INTERVAL + MARGIN, what="the next resolution dropping it")
    restarted = await processes.worker(replica("model", MODEL_B), prefix=inside)
    await restarted.ready()
    records.set({"core": [CORE], "model": [MODEL_A, MODEL_B]})
    listed_at = asyncio.get_running_loop().time()
    await eventually(lambda: _members_are(client, both), RESOLVE_INTERVAL + MARGIN,
                     what="the new replica joining through DNS")
    joined_after = asyncio.get_running_loop().time() - listed_at
    await eventually(lambda: _reaches(client, restarted.pid), 10,
                     what="calls reaching the new replica")
    print(f"joined {joined_after * 1000:.0f} ms after DNS listed it")
    for started in (core, model_a, restarted):
        started.signal(signal.SIGTERM)
        assert await started.wait() == 0, started.output


async def _members_are(client: Process, expected: list[str]) -> bool:
    return bool((await client.ask(members="model"))["members"] == expected)


async def _resolved_without(client: Process, host: str) -> bool:
    members = (await client.ask(members="model"))["members"]
    return not any(host in address for address in members)


async def _reaches(client: Process, pid: int) -> bool:
    return pid in (await client.ask(call="Model.pid", times=4))["results"]
