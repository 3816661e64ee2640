"""What genweave's HTTP gateway costs, against bare uvicorn doing the same work.

A request ``POST /work {"text": ...}`` passes through two components (A, then
B, trivial work) behind the gateway.  Cases, each one request at a time and
with 32 in flight, all servers on uvloop, all measured with one client:

1. floors: bare uvicorn doing A's and B's work inline, in one process, behind
   a Starlette route (the plumbing genweave's gateway is built on: *the* floor)
   and behind a bare ASGI callable (the least a Python server does);
2. genweave ``monolith``: gateway, A and B in one process (direct calls);
3. genweave ``microservices``: gateway, A and B in three processes (two RPC
   hops over Unix sockets);
4. the Starlette floor again, driven by ``httpx.AsyncClient``: not a server
   case, but what a general client costs compared with the bench's lean one.

The load comes from this process (a raw asyncio keep-alive client, see
``_http_client.py``); every server runs in processes of its own: the floors as
subprocesses, genweave's groups under the supervisor (``placement="process"``),
whose only work here is to watch them.  Cases are interleaved within each
repeat, in a rotating order, so a burst of outside load on this small shared
machine hits every case; results are medians over repeats.  Memory is the
resident set (VmRSS) summed over each case's server processes, after the load.

Run::

    .venv/bin/python bench/gateway.py            # about 2 minutes; writes bench/results/gateway.*
    .venv/bin/python bench/gateway.py --quick    # smoke run; saves only with --out
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
from _common import (
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
from _http_client import KeepAliveClient, post
from _http_floor import WorkRequest, WorkResponse, floor_server, work
from gateway_app import Gateway

import genweave
from genweave.deploy.local import LocalDeployer

APP_PATH: Final = "gateway_app:app"
"""Importable in workers: a script's directory is on ``sys.path``, which the supervisor
hands to every worker as ``PYTHONPATH``."""
PATH: Final = "/work"
TEXT: Final = "Summarise this paragraph, please"
BODY: Final = b'{"text": "' + TEXT.encode() + b'"}'
IN_FLIGHT: Final = 32
SEQ: Final = "sequential"
PAR: Final = f"in_flight_{IN_FLIGHT}"
FLOOR: Final = "floor_starlette"
US_PER_MS: Final = 1_000
US_PER_S: Final = 1_000_000
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
KIB_PER_MIB: Final = 1_024

MAX_MONOLITH_RATIO: Final = 1.2
MAX_MICROSERVICES_RATIO: Final = 1.6


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many requests to make per case and repeat."""

    name: str
    repeats: int
    sequential: int
    in_flight: int
    warmup: int
    client_share: float
    """The fraction of requests the httpx row makes: httpx is several times slower than the
    servers it drives, and that row is only a reference, so it gets fewer to keep the run short."""


FULL: Final = Sizes("full", repeats=7, sequential=1_500, in_flight=4_000, warmup=500,
                    client_share=0.2)
QUICK: Final = Sizes("quick", repeats=1, sequential=150, in_flight=320, warmup=64,
                     client_share=1.0)

Call = Callable[[Any], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the table: how to load a server, and which processes it costs."""

    key: str
    label: str
    call: Call
    payload: Any
    share: float
    """The fraction of ``Sizes`` requests this case makes (1 for every server case)."""
    pids: Callable[[], list[int]]
    """The server processes that answer this case: their CPU time is the case's."""
    owns_memory: bool
    """False where another case already counts these processes' memory."""
    refresh: Callable[[], Awaitable[None]]
    """Fresh connections before each timed run (uvicorn closes idle ones after 5 s)."""


def _quiet(line: str) -> None:
    """Worker logs would interleave with the table; the bench only needs the numbers."""


def _fixed(pids: list[int]) -> Callable[[], list[int]]:
    return lambda: pids


def _group_pids(running: LocalDeployer) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        found = [running.pid(g.name, r) for g in running.topology.groups
                 for r in range(g.replicas)]
        return [pid for pid in found if pid is not None]

    return pids


async def _raw_client(stack: contextlib.AsyncExitStack, url: str) -> KeepAliveClient:
    client = await KeepAliveClient.connect(url, IN_FLIGHT)
    stack.callback(client.close)
    return client


async def _httpx_client(stack: contextlib.AsyncExitStack, url: str) -> Call:
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, limits=limits))
    headers = {"content-type": "application/json"}

    async def call(body: bytes) -> bytes:
        response = await client.post(PATH, content=body, headers=headers)
        response.raise_for_status()
        return response.content

    return call


async def _open_cases(stack: contextlib.AsyncExitStack, sizes: Sizes) -> list[Case]:
    """Start every server at once, so that repeats can interleave them."""
    raw = post(PATH, BODY)
    cases = []
    for kind, label in (("starlette", "floor: uvicorn + Starlette route"),
                        ("asgi", "floor: uvicorn + bare ASGI")):
        floor = await stack.enter_async_context(floor_server(kind))
        client = await _raw_client(stack, floor.url)
        cases.append(Case(f"floor_{kind}", label, client.call, raw, 1.0,
                          _fixed([floor.pid]), True, client.refresh))
        if kind == "starlette":
            httpx_call, httpx_pid = await _httpx_client(stack, floor.url), floor.pid
    for topology in ("monolith", "microservices"):
        running = await stack.enter_async_context(genweave.deploy(
            APP_PATH, topology, placement="process", log=_quiet))
        assert isinstance(running, LocalDeployer)
        client = await _raw_client(stack, await running.get(Gateway).url())
        cases.append(Case(topology, f"genweave {topology}", client.call, raw, 1.0,
                          _group_pids(running), True, client.refresh))

    async def reconnect_httpx() -> None:  # httpx reconnects on use: do it untimed
        await asyncio.gather(*(httpx_call(BODY) for _ in range(IN_FLIGHT)))

    cases.append(Case("floor_httpx", "floor (Starlette), httpx client", httpx_call, BODY,
                      sizes.client_share, _fixed([httpx_pid]), False, reconnect_httpx))
    return cases


async def _warm_up(case: Case, sizes: Sizes) -> None:
    """Open connections, fill caches and check the answer before anything is timed."""
    expected = work(WorkRequest(TEXT))
    reply = msgspec.json.decode(await case.call(case.payload), type=WorkResponse)
    if reply != expected:
        raise AssertionError(f"{case.key}: answered {reply!r}, expected {expected!r}")
    await sequential(case.call, case.payload, sizes.warmup)
    await concurrent(case.call, case.payload, max(sizes.warmup, IN_FLIGHT * 4), IN_FLIGHT)


def _rss_mib(pid: int) -> float:
    """Resident memory of one process, from ``/proc/PID/status`` (``VmRSS``, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / KIB_PER_MIB
    raise RuntimeError(f"no VmRSS for process {pid}")


def _memory(case: Case) -> dict[str, Any]:
    if not case.owns_memory:
        return {"processes": None, "rss_mib": None, "rss_mib_each": []}
    rss = [_rss_mib(pid) for pid in case.pids()]
    return {"processes": len(rss), "rss_mib": round(sum(rss), 1),
            "rss_mib_each": [round(r, 1) for r in rss]}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from ``/proc/PID/stat``."""
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def _timed(case: Case, mode: str, sizes: Sizes) -> dict[str, float]:
    """One timed run, with the CPU it cost the servers and the client per request.

    CPU per request is steadier than latency on a shared machine (a neighbour
    delays a request more than it slows one), and shows where a split spends
    its time.  The client's CPU is this process's, supervisor included, which
    idles during a run.
    """
    await case.refresh()
    pids = case.pids()
    server, client = sum(map(_cpu_seconds, pids)), time.process_time()
    if mode == SEQ:
        n = int(sizes.sequential * case.share)
        run = await sequential(case.call, case.payload, n)
    else:
        n = int(sizes.in_flight * case.share)
        run = await concurrent(case.call, case.payload, n, IN_FLIGHT)
    client = time.process_time() - client
    server = sum(map(_cpu_seconds, pids)) - server
    return {**run.summary(), "server_cpu_us": round(server / n * US_PER_S, 1),
            "client_cpu_us": round(client / n * US_PER_S, 1)}


async def measure(sizes: Sizes) -> dict[str, Any]:
    """Run every case ``sizes.repeats`` times, interleaved; return the raw report."""
    loop = type(asyncio.get_running_loop())
    async with contextlib.AsyncExitStack() as stack:
        cases = await _open_cases(stack, sizes)
        for case in cases:
            await _warm_up(case, sizes)
        runs: dict[str, dict[str, list[dict[str, float]]]] = {
            c.key: {SEQ: [], PAR: []} for c in cases
        }
        for repeat in range(sizes.repeats):
            print(f"repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
            shift = repeat % len(cases)
            for case in cases[shift:] + cases[:shift]:
                for mode in (SEQ, PAR):
                    runs[case.key][mode].append(await _timed(case, mode, sizes))
        memory = {c.key: _memory(c) for c in cases}
    return {
        "bench": "gateway",
        "environment": environment(
            loop=f"{loop.__module__}.{loop.__qualname__}", repeats=sizes.repeats,
            requests={"sequential": sizes.sequential, "in_flight": sizes.in_flight,
                      "warmup": sizes.warmup, "httpx_share": sizes.client_share},
            in_flight=IN_FLIGHT, body_bytes=len(BODY), sizes=sizes.name,
            http=_uvicorn_http(), uvicorn=_version("uvicorn"), starlette=_version("starlette"),
            httpx=httpx.__version__, client="raw asyncio keep-alive (bench/_http_client.py)",
        ),
        "cases": {
            c.key: {"label": c.label, **memory[c.key],
                    **{mode: {"median": median_summary(r), "repeats": r}
                       for mode, r in runs[c.key].items()}}
            for c in cases
        },
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _uvicorn_http() -> str:
    """The HTTP parser uvicorn's ``http="auto"`` picks, for the gateway and the floors alike."""
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def _stat(cases: dict[str, Any], key: str, mode: str, name: str) -> float:
    return float(cases[key][mode]["median"][name])


def _slowdown(cases: dict[str, Any], key: str, mode: str) -> float:
    """How many times slower than the floor: p50 latency alone, throughput with 32 in flight."""
    if mode == SEQ:
        return _stat(cases, key, SEQ, "p50_us") / _stat(cases, FLOOR, SEQ, "p50_us")
    return _stat(cases, FLOOR, PAR, "calls_per_s") / _stat(cases, key, PAR, "calls_per_s")


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    """The targets from the gateway issue, each checked against this run's numbers."""
    rows = []
    for key, limit in (("monolith", MAX_MONOLITH_RATIO),
                       ("microservices", MAX_MICROSERVICES_RATIO)):
        for mode, what in ((SEQ, "sequential p50"), (PAR, f"req/s with {IN_FLIGHT} in flight")):
            ratio = _slowdown(cases, key, mode)
            rows.append(goal(f"{key}: {what}, times the floor's cost", ratio,
                             f"<= {limit:g}x", ratio <= limit))
    return rows


def render(report: dict[str, Any]) -> str:
    """The Markdown printed to stdout and saved as ``gateway.md``."""
    env, cases = report["environment"], report["cases"]
    rows = []
    for key, c in cases.items():
        seq, par = c[SEQ]["median"], c[PAR]["median"]
        rows.append([c["label"], c["processes"] or "-",
                     "-" if c["rss_mib"] is None else c["rss_mib"],
                     seq["p50_us"] / US_PER_MS, seq["p99_us"] / US_PER_MS, seq["calls_per_s"],
                     par["p50_us"] / US_PER_MS, par["p99_us"] / US_PER_MS, par["calls_per_s"],
                     par["server_cpu_us"], par["client_cpu_us"],
                     f"{_slowdown(cases, key, SEQ):.2f}x", f"{_slowdown(cases, key, PAR):.2f}x"])
    headers = ["case", "processes", "RSS MiB", "p50 ms", "p99 ms", "req/s",
               f"p50 ms ({IN_FLIGHT})", f"p99 ms ({IN_FLIGHT})", f"req/s ({IN_FLIGHT})",
               "server CPU µs/req", "client CPU µs/req",
               "p50: case / floor", f"req/s ({IN_FLIGHT}): floor / case"]
    return "\n".join([
        "# gateway: HTTP -> A -> B, genweave against bare uvicorn",
        "",
        f"{machine_line(env)}, "
        f"uvicorn with {env['http']}, load {env['load_average'][0]}; median of "
        f"{env['repeats']} repeats of {env['requests']['sequential']} sequential and "
        f"{env['requests']['in_flight']} concurrent requests; client: {env['client']}. "
        "Floor: the Starlette route.",
        "",
        markdown_table(headers, rows),
        "",
        f"RSS: summed over the case's server processes after the load. CPU µs/req: CPU time "
        f"(user + system) per request during the {IN_FLIGHT}-in-flight run, of the case's "
        "server processes and of the client's process. The httpx row drives the Starlette "
        "floor's process (its memory is counted there) with httpx instead of the raw client.",
        "",
        goals_table(report["goals"]),
    ])


def main(argv: list[str] | None = None) -> int:
    return bench_main("gateway", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="a few hundred requests per case")


if __name__ == "__main__":
    sys.exit(main())
