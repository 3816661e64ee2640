"""The gateway under slow and hostile HTTP clients (issue 18): bounded, over loopback.

A gateway in a process of its own (``limited_gateway.py``: the framework's Api,
server and operations endpoints) serves the same well-behaved clients twice
(``ECHO_CALLERS`` sending a request every ``CALL_EVERY_S``, ``STREAM_CALLERS``
reading short streams), first alone, then beside a few hundred attackers that
reconnect as soon as they are dropped:

- ``SLOW_HEADERS`` connections trickling a request's headers, a byte at a time;
- ``SLOW_BODIES`` sending the headers of a ``POST`` with ``Content-Length:
  100000``, then a byte now and then: issue 18's attack, with more of them
  than the gateway has slots (``MAX_CONCURRENT``) and reading places
  (``max_reading_requests``);
- ``SLOW_READERS`` asking for an endless stream and never reading it.

What must hold, each stated below with its margin for this small machine
(two cores shared with other test runs):

- the well-behaved clients keep ``MIN_SUCCESS`` of their requests, and their
  p99 stays within ``MAX_P99_FACTOR`` of their p99 without the attack;
- the server closes every attacker's connection within its limit (plus
  ``MARGIN_S``), and cancels every stream it was not reading;
- the gateway's resident memory grows by less than ``MAX_RSS_GROWTH_MIB``;
- ``/healthz``, ``/readyz`` and ``/metrics`` answer 200 throughout.

Every client is on 127.0.0.1, so the per-client bounds are off here (they
would refuse the well-behaved clients with the attackers): the test shows that
the time limits, reading before admission and the bound on reading hold
against an attack from many addresses, which per-client bounds cannot stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pytest

from conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.process]

GATEWAY: Final = Path(__file__).resolve().parents[1] / "apps" / "limited_gateway.py"
HEADER_TIMEOUT: Final = 1.0
BODY_TIMEOUT: Final = 1.0
WRITE_TIMEOUT: Final = 1.0
MAX_CONCURRENT: Final = 64
MAX_READING: Final = 64
SETTINGS: Final = {
    "max_concurrent": MAX_CONCURRENT,
    "limits": {"header_timeout": HEADER_TIMEOUT, "body_timeout": BODY_TIMEOUT,
               "write_timeout": WRITE_TIMEOUT, "keep_alive_timeout": 2,
               "max_reading_requests": MAX_READING,
               "max_connections_per_client": 0, "max_requests_per_client": 0},
}

SLOW_HEADERS: Final = 120
SLOW_BODIES: Final = 120
SLOW_READERS: Final = 40
ECHO_CALLERS: Final = 8
STREAM_CALLERS: Final = 2
CALL_EVERY_S: Final = 0.02
"""Each well-behaved caller sends a request this often (400 echoes a second in all): a
steady load that leaves the two cores room, so its p99 shows the gateway, not a machine
run flat out by the clients themselves."""
STREAM_EVERY_S: Final = 0.1
BASELINE_S: Final = 2.5
ATTACK_S: Final = 4.0
"""Well-behaved traffic runs this long under attack; the attackers keep on until it ends."""
RAMP_S: Final = 1.0
TICK_S: Final = 0.1
DRIP_TICKS: Final = 2
"""An attacker sends one byte every ``DRIP_TICKS`` ticks: always before any timeout."""
CLIENT_TIMEOUT_S: Final = 5.0
PROBE_EVERY_S: Final = 0.25
RSS_EVERY_S: Final = 0.1
SMALL_RCVBUF: Final = 4096
TCP_ESTABLISHED: Final = 1

MIN_SUCCESS: Final = 0.95
MAX_P99_FACTOR: Final = 25.0
"""The attack costs the gateway real work: about 0.3 of a core against 0.1 without it (some
250 connections dropped and opened again each second, streams filling kernel buffers).  On a
quiet machine the p99 grew 3.9-4.8x (the p50 hardly moved); with other test runs keeping the
machine's load at 5, a process needing three times the CPU waits that much more for it, and
it grew up to 17x."""
MARGIN_S: Final = 1.5
"""How late a close may be against its limit: timers and a loaded loop on a shared machine."""
MAX_RSS_GROWTH_MIB: Final = 64
STARTUP_S: Final = 60.0

ECHO_BODY: Final = b'{"text":"well behaved"}'
ECHO: Final = (b"POST /v1/echo HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(ECHO_BODY) + ECHO_BODY)


def post(path: str, body: bytes, *, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return (b"POST %s HTTP/1.1\r\nHost: gateway\r\n%sContent-Length: %d\r\n\r\n"
            % (path.encode(), connection, len(body)) + body)


SHORT_STREAM: Final = post("/v1/stream", b'{"events": 20, "size": 512}', close=True)
ENDLESS_STREAM: Final = post("/v1/stream", b'{"events": 1000000, "size": 65536}')
SLOW_HEADER_START: Final = b"POST /v1/echo HTTP/1.1\r\nHost: gateway\r\nX-Slow: "
SLOW_BODY_START: Final = (b"POST /v1/echo HTTP/1.1\r\nHost: gateway\r\n"
                          b"Content-Length: 100000\r\n\r\n{")


# -- the gateway process ---------------------------------------------------------------


@dataclass(frozen=True)
class Gateway:
    pid: int
    host: str
    port: int

    def cpu_s(self) -> float:
        """User and system CPU time so far (fields 14 and 15 of ``/proc/PID/stat``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no VmRSS for {self.pid}")


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    if not hasattr(socket, "TCP_INFO") or not Path("/proc/self/status").exists():
        if os.environ.get("CI"):
            pytest.fail("CI: this test needs Linux (TCP_INFO, /proc)")
        pytest.skip("this test needs Linux (TCP_INFO, /proc)")
    log = (tmp_path / "gateway.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(GATEWAY), json.dumps(SETTINGS),
        stdout=asyncio.subprocess.PIPE, stderr=log)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(STARTUP_S):
            url = (await process.stdout.readline()).decode().strip()
        assert url.startswith("http://"), (tmp_path / "gateway.log").read_text()[-2000:]
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield Gateway(process.pid, host, int(port))
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


# -- well-behaved clients -----------------------------------------------------------------


class KeepAlive:
    """One kept-alive connection, reopened when the server closes it."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        if self.streams is None or self.streams[0].at_eof():
            self.streams = await asyncio.open_connection(self.gateway.host, self.gateway.port)
        reader, writer = self.streams
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return int(head.split()[1]), await reader.readexactly(length)

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@dataclass
class Traffic:
    latencies_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    streams: int = 0

    @property
    def success(self) -> float:
        done = len(self.latencies_s) + self.streams
        return done / (done + len(self.failures))

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.latencies_s, 99)) * 1000

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.latencies_s, 50)) * 1000


async def paced(every_s: float, until: float) -> AsyncIterator[None]:
    """Every ``every_s`` until ``until``; at once when the last call ran late."""
    due = time.monotonic()
    while due < until:
        yield
        due = max(due + every_s, time.monotonic())
        await asyncio.sleep(due - time.monotonic())


async def well_behaved(gateway: Gateway, seconds: float) -> Traffic:
    """``ECHO_CALLERS`` callers and ``STREAM_CALLERS`` stream readers, each at a steady pace."""
    traffic, until = Traffic(), time.monotonic() + seconds

    async def echo() -> None:
        client = KeepAlive(gateway)
        async for _ in paced(CALL_EVERY_S, until):
            began = time.perf_counter()
            try:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    status, body = await client.exchange(ECHO)
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                traffic.failures.append(f"echo: {exc!r}")
                client.close()
                continue
            if status == 200 and body == ECHO_BODY:
                traffic.latencies_s.append(time.perf_counter() - began)
            else:
                traffic.failures.append(f"echo: {status} {body[:200]!r}")
        client.close()

    async def stream() -> None:
        async for _ in paced(STREAM_EVERY_S, until):
            try:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    answer = await exchange_once(gateway, SHORT_STREAM)
            except (OSError, TimeoutError) as exc:
                traffic.failures.append(f"stream: {exc!r}")
                continue
            if answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"data: ") == 21 \
                    and b"data: [DONE]" in answer:
                traffic.streams += 1
            else:
                traffic.failures.append(f"stream: {answer[:200]!r}")

    await asyncio.gather(*(echo() for _ in range(ECHO_CALLERS)),
                         *(stream() for _ in range(STREAM_CALLERS)))
    return traffic


async def exchange_once(gateway: Gateway, raw: bytes) -> bytes:
    """Send ``raw`` on a new connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        writer.write(raw)
        return await reader.read()
    finally:
        writer.close()


# -- attackers --------------------------------------------------------------------------


@dataclass
class Hold:
    """One attacker's connection: its limit, and how long the server let it live."""

    kind: str
    limit_s: float
    lived_s: float | None = None


def tcp_state(sock: socket.socket) -> int:
    """This end's state in the kernel (``tcpi_state``): 1 while established; past it, the
    server closed (close-wait) or reset (close) the connection."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, struct.calcsize("B"))
    return int(info[0])


@dataclass(frozen=True)
class Kind:
    """One kind of attacker: what it sends first, what it drips, the limit it is held to."""

    name: str
    count: int
    limit_s: float
    start: bytes
    drip: bytes | None = None
    rcvbuf: int | None = None


KINDS: Final = (
    Kind("slow headers", SLOW_HEADERS, HEADER_TIMEOUT, SLOW_HEADER_START, b"s"),
    Kind("slow body", SLOW_BODIES, BODY_TIMEOUT, SLOW_BODY_START, b" "),
    Kind("slow reader", SLOW_READERS, WRITE_TIMEOUT, ENDLESS_STREAM, rcvbuf=SMALL_RCVBUF),
)


@dataclass
class Held:
    kind: Kind
    sock: socket.socket
    began: float
    hold: Hold


@dataclass
class Attack:
    """Every attacker's connection, watched by one task: a dropped one is recorded and, until
    the attack ends, opened again; the others drip their bytes.  (One task rather than one
    per connection, to leave the machine's two cores to the gateway and the clients.)"""

    gateway: Gateway
    until: float = float("inf")
    holds: list[Hold] = field(default_factory=list)
    live: list[Held] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, kind: Kind) -> None:
        sock = socket.socket()
        if kind.rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, kind.rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (self.gateway.host, self.gateway.port))
        await loop.sock_sendall(sock, kind.start)
        hold = Hold(kind.name, kind.limit_s)
        self.holds.append(hold)
        self.live.append(Held(kind, sock, time.monotonic(), hold))

    async def run(self) -> None:
        # Spread over RAMP_S, as clients arriving from many places would be: all at once,
        # they would be dropped, and come back, in one wave after another.
        kinds = [kind for kind in KINDS for _ in range(kind.count)]
        for kind in kinds:
            await self.open(kind)
            await asyncio.sleep(RAMP_S / len(kinds))
        self.ready.set()
        ticks = 0
        while self.live:
            await asyncio.sleep(TICK_S)
            ticks += 1
            now, reopen = time.monotonic(), []
            for held in list(self.live):
                lived = now - held.began
                if tcp_state(held.sock) != TCP_ESTABLISHED:
                    held.hold.lived_s = lived
                elif lived <= held.kind.limit_s + 2 * MARGIN_S:  # held on: drip, if it does
                    if held.kind.drip is not None and ticks % DRIP_TICKS == 0:
                        with contextlib.suppress(OSError):  # dropped meanwhile: seen next tick
                            held.sock.send(held.kind.drip)
                    continue
                # Dropped, or kept open well past its limit (its lived_s stays None).
                held.sock.close()
                self.live.remove(held)
                if now < self.until:
                    reopen.append(held.kind)
            await asyncio.gather(*(self.open(kind) for kind in reopen))


# -- watching the gateway -----------------------------------------------------------------


async def every(seconds: float, stop: asyncio.Event, action: Callable[[], Awaitable[Any]]) -> None:
    while not stop.is_set():
        await action()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()


@dataclass
class Watch:
    """The gateway's memory and its probes' answers, sampled until stopped."""

    gateway: Gateway
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    peak_rss_mib: float = 0.0
    probes: list[bytes] = field(default_factory=list)

    async def rss(self) -> None:
        self.peak_rss_mib = max(self.peak_rss_mib, self.gateway.rss_mib())

    async def probe(self) -> None:
        for path in (b"/healthz", b"/readyz", b"/metrics"):
            try:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    answer = await exchange_once(self.gateway, b"GET %s HTTP/1.1\r\nHost: "
                                                 b"gateway\r\nConnection: close\r\n\r\n" % path)
            except (OSError, TimeoutError) as exc:
                answer = repr(exc).encode()
            self.probes.append(path + b" " + answer[:12])

    async def run(self) -> None:
        await asyncio.gather(every(RSS_EVERY_S, self.stop, self.rss),
                             every(PROBE_EVERY_S, self.stop, self.probe))


# -- the test -----------------------------------------------------------------------------


async def test_well_behaved_clients_are_served_beside_a_few_hundred_slow_ones(
    gateway: Gateway,
) -> None:
    warm = await well_behaved(gateway, 0.5)
    assert not warm.failures, warm.failures[:5]
    cpu = (gateway.cpu_s(), time.process_time())
    baseline = await well_behaved(gateway, BASELINE_S)
    cpu_baseline = (gateway.cpu_s() - cpu[0], time.process_time() - cpu[1])
    rss_before = gateway.rss_mib()

    watch = Watch(gateway)
    watching = asyncio.create_task(watch.run())
    attack = Attack(gateway)
    attacking = asyncio.create_task(attack.run())
    async with asyncio.timeout(STARTUP_S):
        await attack.ready.wait()
    attack.until = time.monotonic() + ATTACK_S
    cpu = (gateway.cpu_s(), time.process_time())
    attacked = await well_behaved(gateway, ATTACK_S)
    cpu_attacked = (gateway.cpu_s() - cpu[0], time.process_time() - cpu[1])
    await attacking  # each attacker's last connection dropped (or given up on)
    watch.stop.set()
    await watching
    counts = await eventually(lambda: streams_closed(gateway), what="every stream closed")

    report = {
        "baseline": {"requests": len(baseline.latencies_s), "p50_ms": round(baseline.p50_ms, 2),
                     "p99_ms": round(baseline.p99_ms, 2)},
        "attacked": {"requests": len(attacked.latencies_s), "p50_ms": round(attacked.p50_ms, 2),
                     "p99_ms": round(attacked.p99_ms, 2), "success": round(attacked.success, 4),
                     "streams": attacked.streams, "failures": attacked.failures[:5]},
        "attacker_connections": len(attack.holds),
        "longest_lived_s": longest_lived(attack.holds),
        "rss_mib": {"before": round(rss_before, 1), "peak": round(watch.peak_rss_mib, 1)},
        "cpu_share": {"gateway": [round(cpu_baseline[0] / BASELINE_S, 2),
                                  round(cpu_attacked[0] / ATTACK_S, 2)],
                      "clients": [round(cpu_baseline[1] / BASELINE_S, 2),
                                  round(cpu_attacked[1] / ATTACK_S, 2)]},
        "probes": len(watch.probes), "streams": counts,
    }
    print(json.dumps(report, indent=1))

    assert attacked.success >= MIN_SUCCESS, report
    assert attacked.p99_ms <= MAX_P99_FACTOR * baseline.p99_ms, report
    late = [h for h in attack.holds if h.lived_s is None or h.lived_s > h.limit_s + MARGIN_S]
    assert not late, (late[:10], report)
    assert len(attack.holds) > sum(k.count for k in KINDS), "the attackers reconnected"
    assert watch.peak_rss_mib - rss_before < MAX_RSS_GROWTH_MIB, report
    assert watch.probes and all(b" HTTP/1.1 200" in p for p in watch.probes), watch.probes
    slow_reads = sum(h.kind == "slow reader" for h in attack.holds)
    assert counts["closed"] >= slow_reads, report


async def streams_closed(gateway: Gateway) -> dict[str, int] | None:
    """The gateway's stream counts, once no stream is open."""
    answer = await exchange_once(gateway, b"GET /v1/streams HTTP/1.1\r\nHost: gateway\r\n"
                                          b"Connection: close\r\n\r\n")
    counts: dict[str, int] = json.loads(answer.partition(b"\r\n\r\n")[2])
    return counts if counts["open"] == 0 else None


def longest_lived(holds: list[Hold]) -> dict[str, float | None]:
    kinds = sorted({h.kind for h in holds})
    return {kind: max((h.lived_s or float("inf") for h in holds if h.kind == kind),
                      default=None) for kind in kinds}
