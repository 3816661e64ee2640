"""Load shedding: under overload, bounded queues answer 503 at once and keep latency bounded.

``POST /work`` enters the ``Gateway`` component, which calls ``Worker.run``
(``cost_ms`` of CPU per call), each in a process of its own (``microservices``).
Three deployments of the same app run side by side:

- ``bounded``: the worker group's ``max_in_flight`` is ``BOUNDED_IN_FLIGHT``
  and the gateway's ``max_concurrent`` is ``BOUNDED_CONCURRENT``; past them a
  request is refused at once (``Overloaded`` -> 503 with ``Retry-After``: the
  router never asks a refusing replica again);
- ``defaults``: genweave's default limits (``DEFAULT_MAX_IN_FLIGHT``, gateway
  ``DEFAULT_MAX_CONCURRENT``), what an untuned deployment gets;
- ``unbounded``, the baseline: both limits are ``UNBOUNDED``, so every request
  waits in a queue, however long it grows.

First the capacity: accepted requests per second with ``CAPACITY_IN_FLIGHT``
closed-loop callers on the unbounded deployment (which refuses nothing).  Then
open-loop load at ``LOADS`` times that capacity: Poisson arrivals, each sent
when it is due whether or not earlier ones were answered (a closed loop would
slow down with the server and hide the overload).  For each load and deployment:
the accepted rate, the fractions refused (503/429) and timed out, the p50 and
p99 latency of accepted requests, the p99 latency of refusals, and how long the
servers stayed busy after the last answer (work done for callers who had left).
Each client gives up after ``CLIENT_TIMEOUT_S``, so an unbounded run ends; a
timed-out request counts as failed, not in the latencies.

Then ``bounded + slow clients``: the bounded deployment again, at ``SLOW_LOADS``,
with the same open-loop load beside a few hundred connections that hold the
gateway without being clients (:class:`SlowClients`: headers trickled, issue
18's slow bodies, streams never read).  The gateway keeps genweave's default
time limits, so within a run it drops none of them for being slow; it reads
bodies before admitting them, and past ``max_reading_requests`` the body
arriving longest gives way.  Every client is on 127.0.0.1, so the per-client
bounds are off in every deployment (they would refuse the load with the
attackers).

Deployments alternate within each load and repeat, in a rotating order, so a
burst of outside load on this small shared machine hits all of them; the servers are
left to go idle between runs; results are medians over repeats.

Run::

    .venv/bin/python bench/overload.py            # about 3 minutes; writes bench/results/overload.*
    .venv/bin/python bench/overload.py --quick    # smoke run; saves only with --out
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import statistics
import struct
import sys
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
from _common import (
    bench_main,
    concurrent,
    environment,
    goal,
    goals_table,
    machine_line,
    markdown_table,
    median_summary,
)
from _http_client import Connection, post
from overload_app import Gateway, WorkerSettings, WorkResponse, app

import genweave
from genweave.deploy.local import LocalDeployer
from genweave.gateway.api import DEFAULT_MAX_CONCURRENT
from genweave.topology import DEFAULT_MAX_IN_FLIGHT, Topology, preset

APP_PATH: Final = "overload_app:app"
"""Importable in workers: a script's directory is on ``sys.path``, which the supervisor
hands to every worker as ``PYTHONPATH``."""
PATH: Final = "/work"
TEXT: Final = "shed me"
BODY: Final = msgspec.json.encode({"text": TEXT})
COST_MS: Final = WorkerSettings().cost_ms

BOUNDED: Final = "bounded"
DEFAULTS: Final = "defaults"
UNBOUNDED_KEY: Final = "unbounded"
SLOW_KEY: Final = "bounded + slow clients"
BOUNDED_IN_FLIGHT: Final = 8
BOUNDED_CONCURRENT: Final = 64
UNBOUNDED: Final = 1_000_000
CAPACITY_IN_FLIGHT: Final = 32
LOADS: Final = (0.5, 1.0, 2.0, 3.0)
LOW, HIGH = LOADS[0], LOADS[-1]
SLOW_LOADS: Final = (LOW, 1.0)
CLIENT_TIMEOUT_S: Final = 2.0
PREFILL_CONNECTIONS: Final = 64
GATEWAY_REFUSAL: Final = b"the gateway is at its limit"
"""In the body of the gateway's own 503 (``genweave.gateway.api``); the worker's names it."""
SHED: Final = frozenset({HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS})
NO_PER_CLIENT_BOUNDS: Final = {"max_connections_per_client": 0, "max_requests_per_client": 0}
"""Every request comes from 127.0.0.1: per-client bounds would refuse the load itself."""

SLOW_HEADERS: Final = 100
SLOW_BODIES: Final = 300
"""More than the gateway's ``max_reading_requests`` (256 by default)."""
SLOW_READERS: Final = 20
DRIP_S: Final = 1.0
"""A slow sender sends a byte this often: always within the limits it is held to."""
SLOW_HEADER_START: Final = b"POST /work HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
SLOW_BODY_START: Final = (b"POST /work HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Length: 100000\r\n\r\n{")
ENDLESS_STREAM: Final = post("/stream", b'{"events": 1000000, "size": 65536}')
SMALL_RCVBUF: Final = 4096
TCP_ESTABLISHED: Final = 1

LAUNCH_AHEAD_NS: Final = 200_000
"""Arrivals due this soon are sent at once: a timer cannot wake the loop more precisely."""
IDLE_POLL_S: Final = 0.2
IDLE_SHARE: Final = 0.05
"""The servers count as idle once they use less than this share of a core."""
MAX_IDLE_WAIT_S: Final = 60.0
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
PERCENT: Final = 100

MAX_BOUNDED_GROWTH: Final = 5.0
"""Bounded: p99 of accepted requests at 3x capacity, at most this many times its p99 at 0.5x."""
MAX_P99_RATIO: Final = 0.1
"""At 3x capacity, the bounded p99 is at most this fraction of the unbounded one."""
MAX_REFUSAL_RATIO: Final = 1.0
"""At 3x capacity, a refusal comes at least as fast as an answer (p99 against p99)."""
MIN_GOODPUT: Final = 0.8
"""At 3x capacity, the bounded deployment still answers this share of its capacity."""
MAX_SLOW_P99_GROWTH: Final = 3.0
"""With slow clients, p99 at most this many times the bounded p99 at the same load."""
MIN_SLOW_GOODPUT: Final = 0.95
"""With slow clients, accepted req/s at least this share of the bounded deployment's."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """How long and how often to measure."""

    name: str
    repeats: int
    capacity_requests: int
    seconds: float
    """How long each open-loop run sends requests."""
    warmup: int


FULL: Final = Sizes("full", repeats=3, capacity_requests=2_000, seconds=2.5, warmup=500)
QUICK: Final = Sizes("quick", repeats=1, capacity_requests=300, seconds=1.0, warmup=100)


class OpenLoopClient:
    """Keep-alive connections to one server, as many as there are requests in flight.

    A request takes an idle connection or opens one, so no request ever waits
    in the client: the queue an overloaded server builds must show in its own
    latencies, not hide in the client's.  A request that times out closes its
    connection, whose late answer would otherwise be read as the next one's.

    Example::

        client = OpenLoopClient.for_url("http://127.0.0.1:8000")
        status, body = await client.call(post("/work", b'{"text": "hi"}'), timeout=2.0)
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[Connection] = []

    @classmethod
    def for_url(cls, url: str) -> OpenLoopClient:
        parsed = urllib.parse.urlsplit(url)
        assert parsed.hostname is not None and parsed.port is not None, url
        return cls(parsed.hostname, parsed.port)

    async def _open(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(Connection, self.host, self.port)
        return connection

    async def refresh(self, connections: int) -> None:
        """Close every connection and open ``connections`` fresh ones, before a timed run.

        uvicorn closes a connection after 5 s idle: fresh ones keep reconnects
        (and a connection closing mid-request) out of the timings.
        """
        self.close()
        self._idle = [await self._open() for _ in range(connections)]

    async def call(self, raw: bytes, timeout: float) -> tuple[int, bytes]:
        """Status and body of one request; ``TimeoutError`` after ``timeout`` seconds."""
        connection = self._idle.pop() if self._idle else await self._open()
        while connection.closed:  # closed by the server while idle: a real client reconnects
            connection = self._idle.pop() if self._idle else await self._open()
        try:
            async with asyncio.timeout(timeout):
                answer = await connection.exchange(raw)
        except BaseException:
            connection.close()
            raise
        self._idle.append(connection)
        return answer

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle = []


@dataclass(frozen=True, slots=True)
class Running:
    """One deployment under test: its HTTP client and the processes that serve it."""

    key: str
    deployer: LocalDeployer
    client: OpenLoopClient

    def pids(self) -> list[int]:
        found = [self.deployer.pid(g.name) for g in self.deployer.topology.groups]
        return [pid for pid in found if pid is not None]


@dataclass(frozen=True, slots=True)
class Limits:
    """One deployment's bounds: the worker's calls in flight, the gateway's requests."""

    max_in_flight: int
    max_concurrent: int


CASES: Final = {
    BOUNDED: Limits(BOUNDED_IN_FLIGHT, BOUNDED_CONCURRENT),
    DEFAULTS: Limits(DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_CONCURRENT),
    UNBOUNDED_KEY: Limits(UNBOUNDED, UNBOUNDED),
}


def topology(key: str) -> Topology:
    """``microservices``, with the limits of the case ``key``."""
    limits, base = CASES[key], preset("microservices", app)
    worker = base.group_of("Worker").name
    groups = tuple(msgspec.structs.replace(g, max_in_flight=limits.max_in_flight)
                   if g.name == worker else g for g in base.groups)
    return msgspec.structs.replace(
        base, name=f"microservices-{key}", groups=groups,
        settings={"Gateway": {"max_concurrent": limits.max_concurrent,
                              "limits": NO_PER_CLIENT_BOUNDS}})


def _quiet(line: str) -> None:
    """Worker logs would interleave with the table; the bench only needs the numbers."""


async def _start(stack: contextlib.AsyncExitStack, key: str) -> Running:
    deployer = await stack.enter_async_context(genweave.deploy(
        APP_PATH, topology(key), placement="process", log=_quiet))
    assert isinstance(deployer, LocalDeployer)
    client = OpenLoopClient.for_url(await deployer.get(Gateway).url())
    stack.callback(client.close)
    return Running(key, deployer, client)


async def _post(client: OpenLoopClient) -> bytes:
    """One request that must be accepted (closed-loop runs, where nothing is refused)."""
    status, body = await client.call(post(PATH, BODY), CLIENT_TIMEOUT_S)
    if status != HTTPStatus.OK:
        raise AssertionError(f"HTTP {status}: {body[:200]!r}")
    return body


async def _warm_up(running: Running, sizes: Sizes) -> None:
    """Open connections, fill caches and check the answer before anything is timed."""
    await running.client.refresh(CAPACITY_IN_FLIGHT)
    reply = msgspec.json.decode(await _post(running.client), type=WorkResponse)
    if reply != WorkResponse(text=TEXT):
        raise AssertionError(f"{running.key}: answered {reply!r}")
    in_flight = min(CAPACITY_IN_FLIGHT, BOUNDED_IN_FLIGHT)  # the bounded one refuses more
    await concurrent(_post, running.client, sizes.warmup, in_flight)


async def _capacity(running: Running, sizes: Sizes) -> dict[str, float]:
    """Closed-loop throughput with ``CAPACITY_IN_FLIGHT`` callers: what the servers can do."""
    await running.client.refresh(CAPACITY_IN_FLIGHT)
    run = await concurrent(_post, running.client, sizes.capacity_requests, CAPACITY_IN_FLIGHT)
    return run.summary()


@dataclass(slots=True)
class Outcome:
    """What one open-loop run saw: each request's fate and latency."""

    accepted_ns: list[int]
    shed_ns: list[int]
    timed_out: int = 0
    errors: int = 0
    by_gateway: int = 0
    """Refusals by the gateway's own limit, before any call to the worker."""
    late_ns: int = 0
    """How late the most delayed request was sent, against its arrival time."""
    last_accepted_ns: int = 0
    """When the last accepted answer came, from the first arrival."""


async def open_loop(client: OpenLoopClient, rate: float, seconds: float, seed: int) -> Outcome:
    """Send requests at Poisson arrival times of mean ``rate`` per second, for ``seconds``."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(NS_PER_S / rate, size=int(rate * seconds * 2) + 16)
    arrivals = np.cumsum(gaps)
    due_ns = arrivals[arrivals < seconds * NS_PER_S].astype(np.int64).tolist()
    outcome = Outcome([], [])
    raw, clock = post(PATH, BODY), time.perf_counter_ns

    async def one() -> None:
        start = clock()
        try:
            status, body = await client.call(raw, CLIENT_TIMEOUT_S)
        except TimeoutError:
            outcome.timed_out += 1
            return
        except OSError:  # ConnectionError included: refused or reset, not answered
            outcome.errors += 1
            return
        end = clock()
        if status == HTTPStatus.OK:
            outcome.accepted_ns.append(end - start)
            outcome.last_accepted_ns = max(outcome.last_accepted_ns, end - begin)
        elif status in SHED:
            outcome.shed_ns.append(end - start)
            outcome.by_gateway += GATEWAY_REFUSAL in body
        else:
            outcome.errors += 1

    tasks: list[asyncio.Task[None]] = []
    spawn = asyncio.get_running_loop().create_task
    begin = clock()
    for due in due_ns:
        wait = begin + due - clock()
        if wait > LAUNCH_AHEAD_NS:
            await asyncio.sleep(wait / NS_PER_S)
        outcome.late_ns = max(outcome.late_ns, clock() - begin - due)
        tasks.append(spawn(one()))
    await asyncio.gather(*tasks)
    return outcome


def _ms(values_ns: Sequence[int], q: float) -> float | None:
    if not values_ns:
        return None
    return round(float(np.percentile(values_ns, q)) / NS_PER_MS, 3)


def summarize(outcome: Outcome, seconds: float, idle_after_s: float) -> dict[str, float | None]:
    """One run's numbers; latencies in ms, ``None`` where no request had that fate."""
    accepted, shed = len(outcome.accepted_ns), len(outcome.shed_ns)
    sent = accepted + shed + outcome.timed_out + outcome.errors
    # Accepted answers keep coming after the last arrival while a queue drains.
    answering_s = max(seconds, outcome.last_accepted_ns / NS_PER_S)
    return {
        "offered_per_s": round(sent / seconds, 1),
        "accepted_per_s": round(accepted / answering_s, 1),
        "shed_pct": round(shed / sent * PERCENT, 2),
        "shed_by_gateway_pct": round(outcome.by_gateway / sent * PERCENT, 2),
        "timed_out_pct": round(outcome.timed_out / sent * PERCENT, 2),
        "error_pct": round(outcome.errors / sent * PERCENT, 2),
        "p50_ms": _ms(outcome.accepted_ns, 50),
        "p99_ms": _ms(outcome.accepted_ns, 99),
        "shed_p99_ms": _ms(outcome.shed_ns, 99),
        "send_late_max_ms": round(outcome.late_ns / NS_PER_MS, 3),
        "busy_after_s": round(idle_after_s, 2),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from ``/proc/PID/stat``."""
    # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def wait_idle(pids: Sequence[int]) -> float:
    """Wait until the servers stop working; return how long they kept on.

    An unbounded server goes on with requests whose clients gave up long ago:
    that work is wasted, and the next run must not start on top of it.
    """
    start = time.perf_counter()
    used = sum(map(_cpu_seconds, pids))
    while time.perf_counter() - start < MAX_IDLE_WAIT_S:
        await asyncio.sleep(IDLE_POLL_S)
        before, used = used, sum(map(_cpu_seconds, pids))
        if used - before < IDLE_POLL_S * IDLE_SHARE:
            break
    return max(0.0, time.perf_counter() - start - IDLE_POLL_S)


def _tcp_state(sock: socket.socket) -> int:
    """This end's state in the kernel (``tcpi_state``): 1 while established."""
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, struct.calcsize("B"))[0])


class SlowClients:
    """Connections that hold the gateway without being clients, kept up until ``stop()``.

    ``SLOW_HEADERS`` trickle a request's headers and ``SLOW_BODIES`` the body of a
    ``POST /work`` declaring 100,000 bytes (issue 18's attack), a byte every
    ``DRIP_S``; ``SLOW_READERS`` ask for an endless stream and never read it.  A
    connection the gateway drops is opened again.

    Example::

        slow = SlowClients("127.0.0.1", 8000)
        await slow.start()
        ...                          # the load to measure
        opened, dropped = await slow.stop()
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.opened = 0
        self.dropped = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Open every connection; return once all are open."""
        spawn = asyncio.get_running_loop().create_task
        self._tasks = [
            *(spawn(self._hold(SLOW_HEADER_START, b"s")) for _ in range(SLOW_HEADERS)),
            *(spawn(self._hold(SLOW_BODY_START, b" ")) for _ in range(SLOW_BODIES)),
            *(spawn(self._hold(ENDLESS_STREAM, None, SMALL_RCVBUF)) for _ in range(SLOW_READERS)),
        ]
        start = time.perf_counter()
        while self.opened < len(self._tasks) and time.perf_counter() - start < MAX_IDLE_WAIT_S:
            await asyncio.sleep(IDLE_POLL_S)

    async def stop(self) -> tuple[int, int]:
        """Close them all; how many connections were opened, and how many the gateway dropped."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.opened, self.dropped

    async def _hold(self, start: bytes, drip: bytes | None, rcvbuf: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            with socket.socket() as sock:
                if rcvbuf is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                sock.setblocking(False)
                await loop.sock_connect(sock, (self.host, self.port))
                await loop.sock_sendall(sock, start)
                self.opened += 1
                while not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(DRIP_S):
                            await self._stop.wait()
                    if _tcp_state(sock) != TCP_ESTABLISHED:
                        self.dropped += 1
                        break
                    if drip is not None:
                        with contextlib.suppress(OSError):  # dropped meanwhile: seen next time
                            sock.send(drip)


async def _load_run(running: Running, rate: float, seconds: float, seed: int,
                    slow: bool = False) -> dict[str, float | None]:
    await running.client.refresh(PREFILL_CONNECTIONS)
    attack = SlowClients(running.client.host, running.client.port)
    if slow:  # the load meets the held connections, not the burst of their opening
        await attack.start()
        await wait_idle(running.pids())
    outcome = await open_loop(running.client, rate, seconds, seed)
    opened, dropped = await attack.stop()
    summary = summarize(outcome, seconds, await wait_idle(running.pids()))
    return summary | ({"slow_opened": opened, "slow_dropped": dropped} if slow else {})


def median_of(runs: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """The median of each statistic over the repeats that have it (a run with no refusals
    has no refusal latency)."""
    medians: dict[str, float | None] = {}
    for key in runs[0]:
        values = [v for r in runs if (v := r[key]) is not None]
        medians[key] = round(statistics.median(values), 4) if values else None
    return medians


async def measure(sizes: Sizes) -> dict[str, Any]:
    """Capacity first, then every load on both deployments, ``sizes.repeats`` times."""
    loop = type(asyncio.get_running_loop())
    async with contextlib.AsyncExitStack() as stack:
        deployments = [await _start(stack, key) for key in CASES]
        for running in deployments:
            await _warm_up(running, sizes)
        baseline = deployments[-1]
        capacity_runs = [await _capacity(baseline, sizes) for _ in range(sizes.repeats)]
        capacity = median_summary(capacity_runs)["calls_per_s"]
        runs: dict[str, dict[float, list[dict[str, float | None]]]] = {
            d.key: {load: [] for load in LOADS} for d in deployments}
        runs[SLOW_KEY] = {load: [] for load in SLOW_LOADS}
        bounded = next(d for d in deployments if d.key == BOUNDED)
        for repeat in range(sizes.repeats):
            print(f"repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
            for step, load in enumerate(LOADS):
                shift = (repeat + step) % len(deployments)
                for running in deployments[shift:] + deployments[:shift]:
                    seed = repeat * len(LOADS) + step  # both deployments see the same arrivals
                    runs[running.key][load].append(
                        await _load_run(running, load * capacity, sizes.seconds, seed))
                if load in SLOW_LOADS:  # the same arrivals, with slow clients beside them
                    runs[SLOW_KEY][load].append(await _load_run(
                        bounded, load * capacity, sizes.seconds, seed, slow=True))
    return {
        "bench": "overload",
        "environment": environment(
            loop=f"{loop.__module__}.{loop.__qualname__}", repeats=sizes.repeats,
            sizes=sizes.name, seconds_per_run=sizes.seconds, worker_cost_ms=COST_MS,
            capacity_in_flight=CAPACITY_IN_FLIGHT, client_timeout_s=CLIENT_TIMEOUT_S,
            limits={key: dataclasses.asdict(limits) for key, limits in CASES.items()},
            client="raw asyncio keep-alive, one connection per request in flight, Poisson "
                   "arrivals",
            slow_clients={"headers": SLOW_HEADERS, "bodies": SLOW_BODIES,
                          "readers": SLOW_READERS, "drip_s": DRIP_S},
        ),
        "capacity": {"median": median_summary(capacity_runs), "repeats": capacity_runs},
        "cases": {
            key: {str(load): {"offered_x": load, "rate_per_s": round(load * capacity, 1),
                              "median": median_of(r), "repeats": r}
                  for load, r in by_load.items()}
            for key, by_load in runs.items()
        },
    }


def _p99(cases: dict[str, Any], key: str, load: float) -> float | None:
    value = cases[key][str(load)]["median"]["p99_ms"]
    return None if value is None else float(value)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else round(top / bottom, 3)


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    """The load-shedding claim, checked against this run's numbers."""
    rows = []
    for key in (BOUNDED,):
        high = cases[key][str(HIGH)]
        growth = _ratio(_p99(cases, key, HIGH), _p99(cases, key, LOW))
        versus = _ratio(_p99(cases, key, HIGH), _p99(cases, UNBOUNDED_KEY, HIGH))
        refusal = _ratio(high["median"]["shed_p99_ms"], _p99(cases, key, HIGH))
        goodput = _ratio(high["median"]["accepted_per_s"], high["rate_per_s"] / HIGH)
        rows += [
            (f"{key}: p99 at {HIGH:g}x capacity / p99 at {LOW:g}x", growth,
             f"<= {MAX_BOUNDED_GROWTH:g}", _at_most(growth, MAX_BOUNDED_GROWTH)),
            (f"{key}: p99 at {HIGH:g}x capacity / unbounded p99 there", versus,
             f"<= {MAX_P99_RATIO:g}", _at_most(versus, MAX_P99_RATIO)),
            (f"{key}: refusal p99 at {HIGH:g}x / accepted p99 there", refusal,
             f"<= {MAX_REFUSAL_RATIO:g}", _at_most(refusal, MAX_REFUSAL_RATIO)),
            (f"{key}: accepted req/s at {HIGH:g}x / capacity", goodput,
             f">= {MIN_GOODPUT:g}", goodput is not None and goodput >= MIN_GOODPUT),
        ]
    for load in SLOW_LOADS:
        growth = _ratio(_p99(cases, SLOW_KEY, load), _p99(cases, BOUNDED, load))
        kept = _ratio(cases[SLOW_KEY][str(load)]["median"]["accepted_per_s"],
                      cases[BOUNDED][str(load)]["median"]["accepted_per_s"])
        rows += [
            (f"{SLOW_KEY}: p99 at {load:g}x / bounded p99 there", growth,
             f"<= {MAX_SLOW_P99_GROWTH:g}", _at_most(growth, MAX_SLOW_P99_GROWTH)),
            (f"{SLOW_KEY}: accepted req/s at {load:g}x / bounded there", kept,
             f">= {MIN_SLOW_GOODPUT:g}", kept is not None and kept >= MIN_SLOW_GOODPUT),
        ]
    return [goal(g, m, t, met) for g, m, t, met in rows]


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def _cell(value: float | None, suffix: str = "") -> object:
    return "-" if value is None else f"{value:.2f}{suffix}" if suffix else value


def render(report: dict[str, Any]) -> str:
    """The Markdown printed to stdout and saved as ``overload.md``."""
    env, cases = report["environment"], report["cases"]
    capacity = report["capacity"]["median"]
    rows = []
    for key, by_load in cases.items():
        for case in by_load.values():
            load, m = case["offered_x"], case["median"]
            rows.append([key, f"{load:g}x", m["offered_per_s"], m["accepted_per_s"],
                         m["shed_pct"], m["timed_out_pct"], m["error_pct"], _cell(m["p50_ms"]),
                         _cell(m["p99_ms"]), _cell(m["shed_p99_ms"]),
                         _cell(_ratio(m["p99_ms"], _p99(cases, key, LOW)), "x"),
                         _cell(_ratio(m["p99_ms"], _p99(cases, UNBOUNDED_KEY, load)), "x"),
                         m["busy_after_s"]])
    headers = ["deployment", "load", "offered req/s", "accepted req/s", "refused %",
               "timed out %", "errors %", "p50 ms", "p99 ms", "refusal p99 ms",
               f"p99 / p99 at {LOW:g}x", "p99 / unbounded p99", "busy after s"]
    limits, slow = env["limits"][BOUNDED], env["slow_clients"]
    attacks = "; ".join(f"at {c['offered_x']:g}x, {c['median']['slow_opened']:.0f} opened and "
                        f"{c['median']['slow_dropped']:.0f} dropped per run"
                        for c in cases[SLOW_KEY].values())
    return "\n".join([
        "# overload: bounded queues against unbounded ones, from 0.5x to 3x capacity, and "
        "slow clients",
        "",
        f"{machine_line(env)}, "
        f"load {env['load_average'][0]}; median of {env['repeats']} repeats of "
        f"{env['seconds_per_run']:g} s per load. HTTP -> Gateway -> Worker "
        f"({env['worker_cost_ms']:g} ms of CPU per call), microservices (two processes). "
        f"Capacity: {capacity['calls_per_s']:,.0f} req/s (unbounded, "
        f"{env['capacity_in_flight']} closed-loop callers, p99 {capacity['p99_us'] / 1000:.1f} "
        f"ms). bounded: worker max_in_flight {limits['max_in_flight']}, gateway max_concurrent "
        f"{limits['max_concurrent']}; "
        f"defaults: genweave's ({DEFAULT_MAX_IN_FLIGHT} and {DEFAULT_MAX_CONCURRENT}); "
        f"unbounded: both limits {UNBOUNDED:,}. Client: "
        f"{env['client']}, giving up after {env['client_timeout_s']:g} s. "
        f"{SLOW_KEY}: the bounded deployment with {slow['headers']} connections trickling "
        f"headers, {slow['bodies']} trickling a 100,000-byte body (a byte every "
        f"{slow['drip_s']:g} s) and {slow['readers']} never reading an endless stream beside "
        f"the load ({attacks}). Per-client bounds off (every client is 127.0.0.1).",
        "",
        markdown_table(headers, rows),
        "",
        "Latencies are those of accepted requests (200), from send to answer; refusals are "
        "503 or 429. A timed-out request is a failure, not a latency: the unbounded p99 is "
        "capped by the client's timeout, and its growth shows in the timed-out share. Busy "
        "after: how long the servers kept working once the last answer (or timeout) came, "
        "on requests whose callers had left. A refusal is decided by the gateway's router, "
        "which holds each caller to the worker's max_in_flight, so it costs no round trip "
        "through the busy worker; the worker refuses too when several callers add up past it. "
        "The slow clients are held to genweave's default time limits (10 s for headers, 10 s "
        "plus 1 s per KiB for a body, 30 s for a stalled answer), so within a run the gateway "
        "drops only the slow bodies that give way to newer ones past max_reading_requests; "
        "tests/gateway/test_hostile_clients.py drops them all under 1 s limits.",
        "",
        goals_table(report["goals"]),
    ])


def main(argv: list[str] | None = None) -> int:
    return bench_main("overload", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="1 s per load, one repeat")


if __name__ == "__main__":
    sys.exit(main())
