"""What one call hop costs, from a plain ``await`` to an RPC between processes.

Cases, each one at a time and with 64 calls in flight, all on uvloop:

1. ``await obj.echo(x)`` on a plain object: the in-process baseline;
2. the same through an in-process ``Ref`` (a direct proxy, ``monolith``);
3. a genweave RPC to a worker process over a Unix socket (``microservices``);
4. the same over TCP;
5. the floors: a raw length-prefixed msgpack echo over asyncio streams between
   two processes, over a Unix socket and over TCP (see ``_floor.py``);
6. across hosts: a genweave RPC over TCP to a ``genweave worker`` in another
   network namespace, through a veth pair, against the floor run across the
   same pair.

For case 6 the bench makes two namespaces joined by a veth pair (10.233.0.1
and 10.233.0.2, which exist only in there), runs itself again inside the
first (so every other case runs there too, on that namespace's own loopback)
and the worker and the floor server in the second; both namespaces are
removed when it ends.  Without root or iproute2 it runs the other cases where
it is, and the report says the cross-host rows were skipped and why.

The goals are relative to the floor measured in the same run, because this
machine is small and shared, and absolute microseconds would mostly measure
the neighbours.  Cases are interleaved within each repeat for the same reason:
a burst of outside load then hits every case, not one.

Run::

    .venv/bin/python bench/hops.py            # about a minute; writes bench/results/hops.*
    .venv/bin/python bench/hops.py --quick    # smoke run; saves only with --out
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec
from _common import (
    Run,
    bench_main,
    concurrent,
    environment,
    goal,
    goals_table,
    machine_line,
    markdown_table,
    median_summary,
    sequential,
)
from _floor import FloorClient, floor_server
from hops_app import Echo, PlainEcho, app

import genweave
from genweave.deploy.attach import AttachedDeployment
from genweave.runtime.discovery import StaticDiscovery
from genweave.topology import Topology, preset

APP_PATH: Final = "hops_app:app"
"""Importable in workers: a script's directory is on ``sys.path``, which the supervisor
hands to every worker as ``PYTHONPATH``."""
PAYLOAD: Final = "Summarise this paragraph, please"
"""32 bytes: about the size of a short prompt or an id-carrying argument."""
IN_FLIGHT: Final = 64
SEQ: Final = "sequential"
PAR: Final = f"in_flight_{IN_FLIGHT}"

PEER_ENV: Final = "GENWEAVE_HOPS_PEER"
"""Set in the bench run inside the first namespace: the second one's name."""
HERE_ADDRESS: Final = "10.233.0.1"
PEER_ADDRESS: Final = "10.233.0.2"
PEER_PORT: Final = 7070
WORKER_START: Final = 60.0

_NAMES: Final = {"unix": "unix", "tcp": "tcp", "cross_host": "tcp across hosts (veth)"}

MAX_REF_OVERHEAD_US: Final = 2.0
MAX_P50_RATIO: Final = 1.5
MIN_THROUGHPUT_RATIO: Final = 0.5
MAX_TLS_P50_RATIO: Final = 1.3


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many calls to make; in-process calls are cheap, so they get many more."""

    name: str
    repeats: int
    local_calls: int
    remote_sequential: int
    remote_in_flight: int
    warmup: int


FULL: Final = Sizes("full", repeats=5, local_calls=100_000, remote_sequential=5_000,
                    remote_in_flight=50_000, warmup=1_000)
QUICK: Final = Sizes("quick", repeats=2, local_calls=500, remote_sequential=200,
                     remote_in_flight=640, warmup=50)

Measure = Callable[[int], Awaitable[Run]]


@dataclass(frozen=True, slots=True)
class Case:
    key: str
    label: str
    transport: str
    local: bool
    probe: Callable[[Any], Awaitable[Any]]
    one_at_a_time: Measure
    in_flight: Measure


def _call_case(key: str, label: str, transport: str, local: bool,
               call: Callable[[Any], Awaitable[Any]]) -> Case:
    return Case(key, label, transport, local, call,
                functools.partial(sequential, call, PAYLOAD),
                functools.partial(concurrent, call, PAYLOAD, in_flight=IN_FLIGHT))


def _floor_case(key: str, transport: str, client: FloorClient) -> Case:
    return Case(key, "floor: raw msgpack echo", transport, False, client.call,
                functools.partial(sequential, client.call, PAYLOAD),
                functools.partial(client.pipelined, PAYLOAD, window=IN_FLIGHT))


def _quiet(line: str) -> None:
    """Worker logs would interleave with the table; the bench only needs the numbers."""


async def _open_cases(stack: contextlib.AsyncExitStack) -> list[Case]:
    """Start every deployment and floor server at once, so repeats can interleave them."""
    rundir = stack.enter_context(tempfile.TemporaryDirectory(prefix="genweave-hops-"))
    mono = await stack.enter_async_context(genweave.deploy(app, "monolith",
                                                           placement="inprocess"))
    unix = await stack.enter_async_context(genweave.deploy(APP_PATH, "microservices",
                                                           placement="process", log=_quiet))
    tcp_topology = msgspec.structs.replace(preset("microservices", app), transport="tcp")
    tcp = await stack.enter_async_context(genweave.deploy(APP_PATH, tcp_topology,
                                                          placement="process", log=_quiet,
                                                          tls=False))
    mtls = await stack.enter_async_context(genweave.deploy(APP_PATH, tcp_topology,
                                                           placement="process", log=_quiet))
    floors = {}
    peer = os.environ.get(PEER_ENV)
    addresses = [("unix", f"unix:{rundir}/floor.sock", ()), ("tcp", "tcp:127.0.0.1:0", ())]
    if peer:
        addresses.append(("cross_host", f"tcp:{PEER_ADDRESS}:0", _inside(peer)))
    for transport, address, prefix in addresses:
        bound = await stack.enter_async_context(floor_server(address, prefix))
        floors[transport] = client = await FloorClient.connect(bound)
        stack.push_async_callback(client.close)
    across = []
    if peer:
        remote = await stack.enter_async_context(_across_hosts(peer))
        across = [
            _call_case("cross_host", "genweave RPC across hosts", "tcp (veth)", False,
                       remote.get(Echo).echo),
            _floor_case("cross_host_floor", "tcp (veth)", floors["cross_host"]),
        ]
    return [
        _call_case("plain", "plain await", "-", True, PlainEcho().echo),
        _call_case("inprocess_ref", "in-process Ref", "-", True, mono.get(Echo).echo),
        _call_case("unix", "genweave RPC", "unix", False, unix.get(Echo).echo),
        _floor_case("unix_floor", "unix", floors["unix"]),
        _call_case("tcp", "genweave RPC", "tcp", False, tcp.get(Echo).echo),
        _floor_case("tcp_floor", "tcp", floors["tcp"]),
        _call_case("tcp_mtls", "genweave RPC", "tcp + mutual TLS", False, mtls.get(Echo).echo),
        *across,
    ]


def _inside(namespace: str) -> list[str]:
    return ["ip", "netns", "exec", namespace]


def _peer_topology() -> Topology:
    """``microservices`` over TCP, the echo group at its address on the other host."""
    topology = preset("microservices", app)
    groups = tuple(msgspec.structs.replace(g, addresses=(f"tcp:{PEER_ADDRESS}:{PEER_PORT}",))
                   for g in topology.groups)
    return msgspec.structs.replace(topology, transport="tcp", groups=groups)


@contextlib.asynccontextmanager
async def _across_hosts(namespace: str) -> AsyncIterator[AttachedDeployment]:
    """``genweave worker`` for the echo group in ``namespace``, and a client of it here
    that finds it by its static address."""
    worker = await asyncio.create_subprocess_exec(
        *_inside(namespace), sys.executable, "-m", "genweave", "worker", APP_PATH,
        "--group", "echo", "--topology", "microservices", "--discovery", "static",
        "--listen", f"tcp:{PEER_ADDRESS}:{PEER_PORT}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert worker.stdout is not None
    try:
        async with asyncio.timeout(WORKER_START):
            while b" ready at " not in (line := await worker.stdout.readline()):
                if not line:
                    raise RuntimeError(f"the cross-host worker exited: {await worker.wait()}")
        drain = asyncio.create_task(worker.stdout.read())  # its logs, unread
        topology = _peer_topology()
        async with AttachedDeployment(app, topology,
                                      StaticDiscovery(app.name, "client", topology)) as client:
            yield client
        drain.cancel()
    finally:
        if worker.returncode is None:
            worker.terminate()
            await worker.wait()


@contextlib.contextmanager
def _veth_pair() -> Iterator[tuple[str, str]]:
    """Two namespaces joined by a veth pair, addressed; removed on the way out."""
    here, there = (f"gw-hops-{os.getpid()}-{side}" for side in ("a", "b"))
    try:
        for namespace in (here, there):
            _ip("netns", "add", namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", here, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
            "netns", there)
        for namespace, address in ((here, HERE_ADDRESS), (there, PEER_ADDRESS)):
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
        yield here, there
    finally:
        for namespace in (here, there):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _ip(*arguments: str) -> None:
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")


def _cannot_cross_hosts() -> str | None:
    """Why network namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's 'ip' command is not installed"
    return None


async def _warm_up(case: Case, sizes: Sizes) -> None:
    """Open connections, fill caches and check the echo before anything is timed."""
    reply = await case.probe(PAYLOAD)
    if reply != PAYLOAD:
        raise AssertionError(f"{case.key}: echoed {reply!r}, expected {PAYLOAD!r}")
    await case.one_at_a_time(sizes.warmup)
    await case.in_flight(max(sizes.warmup, IN_FLIGHT * 4))


async def measure(sizes: Sizes, cross_host_skipped: str | None = None) -> dict[str, Any]:
    """Run every case ``sizes.repeats`` times, interleaved; return the raw report."""
    loop = type(asyncio.get_running_loop())
    async with contextlib.AsyncExitStack() as stack:
        cases = await _open_cases(stack)
        for case in cases:
            await _warm_up(case, sizes)
        runs: dict[str, dict[str, list[dict[str, float]]]] = {
            c.key: {SEQ: [], PAR: []} for c in cases
        }
        for repeat in range(sizes.repeats):
            print(f"repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
            for case in cases:
                seq_n = sizes.local_calls if case.local else sizes.remote_sequential
                par_n = sizes.local_calls if case.local else sizes.remote_in_flight
                runs[case.key][SEQ].append((await case.one_at_a_time(seq_n)).summary())
                runs[case.key][PAR].append((await case.in_flight(par_n)).summary())
    return {
        "bench": "hops",
        "environment": environment(
            loop=f"{loop.__module__}.{loop.__qualname__}", repeats=sizes.repeats,
            calls={"local": sizes.local_calls, "remote_sequential": sizes.remote_sequential,
                   "remote_in_flight": sizes.remote_in_flight, "warmup": sizes.warmup},
            in_flight=IN_FLIGHT, payload_bytes=len(PAYLOAD.encode()),
            sizes=sizes.name, cross_host_skipped=cross_host_skipped,
        ),
        "cases": {
            c.key: {"label": c.label, "transport": c.transport,
                    **{mode: {"median": median_summary(r), "repeats": r}
                       for mode, r in runs[c.key].items()}}
            for c in cases
        },
    }


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets from the transport issue, each checked against this run's numbers."""
    def stat(key: str, mode: str, name: str) -> float:
        return float(cases[key][mode]["median"][name])

    overhead = stat("inprocess_ref", SEQ, "mean_us") - stat("plain", SEQ, "mean_us")
    rows = [goal("in-process Ref overhead per call (µs, mean, sequential)", overhead,
                  f"< {MAX_REF_OVERHEAD_US:g}", overhead < MAX_REF_OVERHEAD_US)]
    transports = [t for t in ("unix", "tcp", "cross_host") if t in cases]
    for transport in transports:
        floor = f"{transport}_floor"
        ratio = stat(transport, SEQ, "p50_us") / stat(floor, SEQ, "p50_us")
        rows.append(goal(f"{_NAMES[transport]}: sequential p50 / floor p50", ratio,
                          f"<= {MAX_P50_RATIO:g}x", ratio <= MAX_P50_RATIO))
    tls_ratio = stat("tcp_mtls", SEQ, "p50_us") / stat("tcp", SEQ, "p50_us")
    rows.append(goal("tcp + mutual TLS: sequential p50 / plain tcp p50 (kept-alive)", tls_ratio,
                     f"<= {MAX_TLS_P50_RATIO:g}x", tls_ratio <= MAX_TLS_P50_RATIO))
    for transport in transports:
        floor = f"{transport}_floor"
        ratio = stat(transport, PAR, "calls_per_s") / stat(floor, PAR, "calls_per_s")
        rows.append(goal(f"{_NAMES[transport]}: calls/s with {IN_FLIGHT} in flight / floor's",
                         ratio,
                          f">= {MIN_THROUGHPUT_RATIO:g}x", ratio >= MIN_THROUGHPUT_RATIO))
    return rows


def render(report: dict[str, Any]) -> str:
    """The Markdown printed to stdout and saved as ``hops.md``."""
    env, cases = report["environment"], report["cases"]
    rows = []
    for c in cases.values():
        seq, par = c[SEQ]["median"], c[PAR]["median"]
        rows.append([c["label"], c["transport"], seq["p50_us"], seq["p99_us"],
                     seq["calls_per_s"], par["p50_us"], par["p99_us"], par["calls_per_s"]])
    skipped = env.get("cross_host_skipped")
    note = [f"Cross-host rows skipped: {skipped}.", ""] if skipped else []
    headers = ["case", "transport", "p50 µs", "p99 µs", "calls/s",
               f"p50 µs ({IN_FLIGHT})", f"p99 µs ({IN_FLIGHT})", f"calls/s ({IN_FLIGHT})"]
    return "\n".join([
        "# hops: the cost of one call",
        "",
        f"{machine_line(env)}, "
        f"load {env['load_average'][0]}; median of {env['repeats']} repeats; "
        f"payload {env['payload_bytes']}-byte str echoed back.",
        "",
        markdown_table(headers, rows),
        "",
        *note,
        goals_table(report["goals"]),
    ])


def main(argv: list[str] | None = None) -> int:
    """Run the bench inside a namespace with a peer across a veth pair where one can be
    made, else here with the cross-host rows skipped."""
    skipped = None if os.environ.get(PEER_ENV) else _cannot_cross_hosts()
    if os.environ.get(PEER_ENV) or skipped:
        return _run(argv, skipped)
    try:
        with _veth_pair() as (here, there):
            command = [*_inside(here), sys.executable, str(Path(__file__).resolve()),
                       *(sys.argv[1:] if argv is None else argv)]
            return subprocess.run(command, env={**os.environ, PEER_ENV: there},
                                  check=False).returncode
    except OSError as exc:
        return _run(argv, f"cannot make network namespaces: {exc}")


def _run(argv: list[str] | None, cross_host_skipped: str | None) -> int:
    return bench_main("hops", __doc__ or "", full=FULL, quick=QUICK,
                      measure=functools.partial(measure, cross_host_skipped=cross_host_skipped),
                      goals=goals, render=render, argv=argv,
                      quick_help="a few hundred calls per case")


if __name__ == "__main__":
    sys.exit(main())
