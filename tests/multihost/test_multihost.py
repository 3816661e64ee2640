"""The reference app across three hosts, run from its exported Kubernetes manifests.

No cluster: ``tests/support/netns.py`` makes a switch (a namespace with a
bridge) and one network namespace per pod, plugged into it by a veth pair,
each with its own address in 10.232.0.0/24 and a resolver pointed at a DNS
server on the switch.  That server (``tests/support/dns_server.py``) answers
each headless Service's name with its pods whose ``/readyz`` passes, probed
every 2 s, as the endpoints controller does.  Pods are placed on hosts
``a`` (the core group: gateway, orchestration, SQLite state on the
StatefulSet's volume, and the illustrator), ``b`` and ``c`` (one embedder and
one generator each).  Each pod runs the exact command and environment of its
group's Deployment or StatefulSet in ``genweave kube export`` output
(``tests/support/kube_pods.py`` reads them; volumes become per-pod
directories, the mount path rewritten).  A client (``gateway_client.py``) in a
pod of its own talks to the gateway's address, as a Service would route.

The scenarios share one deployment (each worker loads models for seconds) and
run in order: a chat whose calls cross hosts; a rolling update of the
generator under load; then host ``c`` dies under load while streams run.
Every namespace, veth, bridge, resolver file and process is removed
afterwards, also when a scenario fails.  Root and iproute2 are needed: under
CI their absence fails the run, elsewhere the module is skipped with why.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_asyncio
from kube_pods import Manifests, PodCommand
from netns import Network, Pod, require_namespaces, unavailable
from worker_process import Process, Processes, python

from conftest import eventually
from genweave.runtime.discovery import RESOLVE_INTERVAL

pytestmark = [pytest.mark.process, pytest.mark.slow]

HERE: Final = Path(__file__).resolve().parent
SUPPORT: Final = HERE.parent / "support"
APP: Final = "genweave.app:app"
SEARCH: Final = "genweave-test.svc.cluster.local"
GATEWAY_GROUP: Final = "core"
GATEWAY_PORT: Final = 8000
HOSTS: Final = ("b", "c")
"""Where replicas of the groups besides the gateway's go, in turn; ``a`` holds core."""
DOOMED: Final = "c"
READINESS_PERIOD: Final = 2.0
"""The exported readinessProbe's periodSeconds, which the test's DNS server follows."""
MARGIN: Final = 5.0
"""Seconds allowed beyond a stated time, for a machine busy with other tests."""
CHAT: Final = {"model": "genweave-assistant", "max_tokens": 8,
               "messages": [{"role": "user", "content": "Where do replicas run?"}]}
LONG_CHAT: Final = {**CHAT, "max_tokens": 4000, "temperature": 0.7, "retrieval": False}
"""A chat that may stream for seconds: with a fixed prompt (no retrieval) and a seed the
built-in model's answer is the same on every replica, and some seeds run long."""
SEEDS: Final = 24
LONG: Final = 1000
"""Tokens from which an answer streams long enough to be cut (about 1 ms a token)."""
STREAMS: Final = 4
_IN_FLIGHT: Final = re.compile(
    r'^genweave_calls_in_flight\{component="Generator",method="chat".*\} (\S+)$', re.MULTILINE)
_SERVED: Final = re.compile(r'^genweave_calls_total\{component="(?!genweave\.)[^"]*".*\} (\S+)$',
                            re.MULTILINE)


@dataclass
class RunningPod:
    """A pod of the deployment: its namespace, the manifest's command, its process."""

    pod: Pod
    command: PodCommand
    process: Process

    @property
    def address(self) -> str:
        return self.pod.address


class Cluster:
    """The pods, the DNS server's records and the client (see the module docstring)."""

    def __init__(self, network: Network, processes: Processes, root: Path) -> None:
        self.network = network
        self.processes = processes
        self.root = root
        self.records = root / "records.json"
        self.pods: list[RunningPod] = []
        self.services: dict[str, str] = {}
        self.client: Process | None = None
        self.load: dict[str, list[Any]] = {}

    async def start(self, manifests: Manifests, group: str, host: str) -> RunningPod:
        """A pod of ``group`` on ``host``, running its manifest's command and env."""
        index = sum(1 for running in self.pods if running.command.group == group)
        pod = self.network.add_pod(f"{group}-{index}", host)
        command = manifests.pod(group, pod.address, self.root / pod.namespace)
        process = Process([*pod.prefix, *command.argv], command.env)
        self.processes.started.append(process)
        await process.start()
        self.services[group] = manifests.headless_service(group)
        running = RunningPod(pod, command, process)
        self.pods.append(running)
        return running

    def report(self) -> None:
        """Each process's last lines, printed when the deployment fails (pytest shows them)."""
        for process in self.processes.started:
            last = [line[:300] for line in process.lines[-15:]]
            print(f"--- {' '.join(process.command[-12:])}", *last, sep="\n")

    def publish(self) -> None:
        """Every live pod under its Service's name, for the DNS server to probe."""
        table: dict[str, list[str]] = {f"{name}.{SEARCH}.": [] for name in self.services.values()}
        for running in self.pods:
            if running.process.process is not None and running.process.process.returncode is None:
                table[f"{self.services[running.command.group]}.{SEARCH}."].append(
                    f"{running.address}:{running.command.probe_port}")
        temporary = self.records.with_suffix(".tmp")
        temporary.write_text(json.dumps(table))
        temporary.replace(self.records)

    def of(self, group: str, host: str | None = None) -> list[RunningPod]:
        return [running for running in self.pods if running.command.group == group
                and (host is None or running.pod.host == host)
                and running.process.process is not None
                and running.process.process.returncode is None]

    @property
    def gateway(self) -> RunningPod:
        return self.of(GATEWAY_GROUP)[0]

    async def ask(self, **command: Any) -> Any:
        assert self.client is not None
        return await self.client.ask(**command)

    async def served(self, running: RunningPod) -> float:
        """Calls the pod's components have served, from its /metrics."""
        answer = await self.ask(get=f"http://{running.address}:{running.command.probe_port}"
                                    "/metrics", lines="genweave_calls_total")
        return sum(float(value) for value in _SERVED.findall(answer["text"]))

    async def chats_in_flight(self, running: RunningPod) -> float:
        """Generator.chat calls the pod is serving now, from its /metrics."""
        answer = await self.ask(get=f"http://{running.address}:{running.command.probe_port}"
                                    "/metrics", lines="genweave_calls_in_flight")
        return sum(float(value) for value in _IN_FLIGHT.findall(answer["text"]))

    async def find_load(self) -> None:
        """The load's requests: a chat, and embeddings from the model that serves them
        (of those /v1/models lists, the one /v1/embeddings accepts, as a client finds it)."""
        models = json.loads((await self.ask(get="/v1/models"))["text"])["data"]
        for model in models:
            body = {"model": model["id"], "input": ["across hosts"]}
            if (await self.ask(post="/v1/embeddings", body=body))["status"] == 200:
                self.load = {"chat": ["/v1/chat/completions", CHAT],
                             "embeddings": ["/v1/embeddings", body]}
                return
        raise AssertionError(f"no model of {models} serves /v1/embeddings")

    async def members(self) -> dict[str, int]:
        """How many replicas of each group the gateway's replica calls now (its status
        page, which lists what its discovery found)."""
        answer = await self.ask(get=f"http://{self.gateway.address}:{GATEWAY_PORT}"
                                    "/v1/genweave/status")
        view = json.loads(answer["text"])
        return {group["name"]: len(group["replicas"]) for group in view["groups"]}

    async def members_match(self) -> bool:
        """Whether the gateway's view counts exactly the live pods of every group."""
        members = await self.members()
        return all(members.get(group) == len(self.of(group)) for group in self.services)

    async def roll(self, manifests: Manifests, old: RunningPod) -> RunningPod:
        """Replace ``old`` as a Deployment's rolling update does (maxSurge 1,
        maxUnavailable 0): the new pod beside it, ready and listed, then the old one
        out of its Service, its preStop hook, SIGTERM, and its exit after draining."""
        new = await self.start(manifests, old.command.group, old.pod.host)
        await new.process.ready()
        self.publish()
        await eventually(self.members_match, READINESS_PERIOD + RESOLVE_INTERVAL + MARGIN,
                         what="the new replica in the gateway's membership")
        self.pods.remove(old)
        self.publish()
        subprocess.run([*old.pod.prefix, *old.command.pre_stop], check=True)
        old.process.signal(signal.SIGTERM)
        assert await old.process.wait() == 0, old.process.output
        return new


def export(topology: Path, directory: Path, *options: str) -> Manifests:
    """``genweave kube export`` as a user runs it, read back from its YAML."""
    subprocess.run([*python("-m", "genweave", "kube", "export", APP, "-t", str(topology),
                            "--image", "test", "-o", str(directory), *options)],
                   check=True, capture_output=True, text=True)
    return Manifests.read(directory)


def placement(replicas: dict[str, int]) -> list[tuple[str, str]]:
    """(group, host) for every pod: the gateway's group on ``a``, the others in turn."""
    pods, turn = [], 0
    for group, count in sorted(replicas.items()):
        for _ in range(count):
            if group == GATEWAY_GROUP:
                pods.append((group, "a"))
            else:
                pods.append((group, HOSTS[turn % len(HOSTS)]))
                turn += 1
    return pods


@pytest_asyncio.fixture(scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    require_namespaces()
    root = tmp_path_factory.mktemp("multihost")
    manifests = export(HERE / "topology.toml", root / "manifests")
    network = Network(f"gwmh{os.getpid() % 100000}", SEARCH)
    processes = Processes()
    made = Cluster(network, processes, root)
    try:
        try:
            network.create()
        except OSError as exc:
            unavailable(f"cannot make network namespaces: {exc}")
        made.publish()
        dns = await processes.spawn([*network.switch_prefix, *python(
            str(SUPPORT / "dns_server.py"), network.gateway, str(made.records))])
        await dns.printed("serving")
        started = [await made.start(manifests, group, host)
                   for group, host in placement(manifests.replicas())]
        for running in started:
            await running.process.ready()
        made.publish()
        client_pod = network.add_pod("client", "a")
        made.client = await processes.spawn([*client_pod.prefix, *python(
            str(HERE / "gateway_client.py"), f"http://{made.gateway.address}:{GATEWAY_PORT}")])
        await eventually(made.members_match, 60, what="every pod in the gateway's membership")
        await made.find_load()
        yield made
    except BaseException:
        made.report()
        raise
    finally:
        try:
            await processes.close()
        finally:
            network.remove()
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert network.name not in left, f"namespaces left behind:\n{left}"


async def test_a_chat_through_the_gateway_crosses_hosts(cluster: Cluster) -> None:
    remote = [r for r in cluster.pods if r.command.group in ("embedder", "generator")]
    assert {r.pod.host for r in remote} == set(HOSTS) and cluster.gateway.pod.host == "a"
    before = {r.address: await cluster.served(r) for r in remote}
    answered = await cluster.ask(post="/v1/chat/completions", body=CHAT)
    assert answered["status"] == 200, answered
    assert answered["json"]["choices"][0]["message"]["content"]
    after = {r.address: await cluster.served(r) for r in remote}
    serving = {(r.command.group, r.pod.host) for r in remote if after[r.address] > before[
        r.address]}
    assert {group for group, _ in serving} == {"embedder", "generator"}, serving
    assert all(host != "a" for _, host in serving)


async def test_a_rolling_update_of_the_generator_fails_no_request(
    cluster: Cluster, tmp_path: Path,
) -> None:
    updated = export(HERE / "topology.toml", tmp_path / "manifests", "--grace", "8")
    new_command = updated.pod("generator", "10.232.0.250", tmp_path / "probe").argv
    assert new_command != cluster.of("generator")[0].command.argv  # a new manifest indeed
    await cluster.ask(load="start", callers=2, bodies=cluster.load)
    try:
        for old in cluster.of("generator"):
            new = await cluster.roll(updated, old)
            assert new.command.argv[-1] == "8"
    finally:
        requests = (await cluster.ask(load="stop"))["requests"]
    failed = [r for r in requests if r[3] != 200]
    print(f"rolling update: {len(requests)} requests across it, {len(failed)} failed")
    assert requests and not failed, failed[:5]
    served_by_new = [await cluster.served(r) for r in cluster.of("generator")]
    assert all(calls > 0 for calls in served_by_new), served_by_new


async def test_a_host_dies_calls_go_on_streams_end_with_an_error_and_it_leaves(
    cluster: Cluster,
) -> None:
    doomed = [r for r in cluster.pods if r.pod.host == DOOMED]
    assert {r.command.group for r in doomed} == {"embedder", "generator"}
    (doomed_generator,) = [r for r in doomed if r.command.group == "generator"]
    streams = await _stream_until_one_runs_on(cluster, doomed_generator)
    await cluster.ask(load="start", callers=2, bodies=cluster.load)
    killed_at = time.monotonic()
    try:
        for running in doomed:
            running.pod.kill()
            with contextlib.suppress(TimeoutError):
                await running.process.wait(10)
        await eventually(cluster.members_match, READINESS_PERIOD + RESOLVE_INTERVAL + MARGIN,
                         what="the dead replicas leaving the gateway's membership")
        left_after = time.monotonic() - killed_at
        await eventually(lambda: _started_after(cluster, killed_at, 20), 60,
                         what="20 requests started after the kill finishing")
    finally:
        requests = (await cluster.ask(load="stop"))["requests"]
    endings = [await cluster.ask(finish=name) for name in streams]
    cut = sum(1 for ending in endings if "error" in ending["events"][-1])
    in_flight_failed = sum(1 for r in requests if r[1] <= killed_at and r[3] != 200)
    print(f"dead replicas left the gateway's membership {left_after * 1000:.0f} ms after "
          f"the kill; {len(requests)} requests across it, {in_flight_failed} of those in "
          f"flight at the kill failed; {cut} of {len(endings)} streams cut with an error event")

    idempotent_failures = [r for r in requests if r[0] == "embeddings" and r[3] != 200]
    assert not idempotent_failures, idempotent_failures[:5]
    late_chat_failures = [r for r in requests
                          if r[0] == "chat" and r[1] > killed_at and r[3] != 200]
    assert not late_chat_failures, late_chat_failures[:5]
    for ending in endings:
        assert ending["done"], ending  # the stream always ends properly ...
        last = ending["events"][-1]
        finished = "choices" in last and last["choices"] and last["choices"][0].get(
            "finish_reason")
        assert finished or "error" in last, last  # ... finished, or saying it failed
    assert any("error" in ending["events"][-1] for ending in endings), endings


async def _stream_until_one_runs_on(cluster: Cluster, generator: RunningPod) -> list[str]:
    """Start long streamed chats (bounded) until ``generator`` serves one now, as its
    /metrics' calls in flight say; their names."""
    seed = await _long_seed(cluster)
    started: list[str] = []
    for index in range(STREAMS):
        name = f"s{index}"
        first = await cluster.ask(stream={**LONG_CHAT, "seed": seed}, id=name)
        assert "choices" in first["first"], first
        started.append(name)
        if await cluster.chats_in_flight(generator) > 0:
            return started
    raise AssertionError(f"none of {STREAMS} streamed chats was running on "
                         f"{generator.address} when looked at")


async def _long_seed(cluster: Cluster) -> int:
    """A seed whose answer to LONG_CHAT has at least LONG tokens (bounded search)."""
    lengths = {}
    for seed in range(SEEDS):
        answer = await cluster.ask(post="/v1/chat/completions", body={**LONG_CHAT, "seed": seed})
        assert answer["status"] == 200, answer
        lengths[seed] = answer["json"]["usage"]["completion_tokens"]
        if lengths[seed] >= LONG:
            return seed
    raise AssertionError(f"no seed in 0-{SEEDS - 1} gives {LONG} tokens: {lengths}")


async def _started_after(cluster: Cluster, moment: float, count: int) -> bool:
    return bool((await cluster.ask(progress=moment))["finished"] >= count)
