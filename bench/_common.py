"""Helpers shared by the benchmarks in ``bench/``: timing loops, statistics, reports.

Every bench measures with the same harness so that its numbers and those of the
floor it is compared against carry the same measuring overhead: a per-call
``perf_counter_ns`` pair, and throughput from the wall time of the whole run.
Results are medians over repeats, because the benches share a small, busy
machine and a single run says little.
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import numpy as np

from genweave._aio import loop_factory

__all__ = [
    "RESULTS_DIR",
    "Run",
    "bench_main",
    "concurrent",
    "environment",
    "goal",
    "goals_table",
    "markdown_table",
    "median_summary",
    "run_on_uvloop",
    "save_results",
    "sequential",
]

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
NS_PER_US: Final = 1_000
NS_PER_S: Final = 1_000_000_000

T = TypeVar("T")
Call = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Run:
    """One measured run: every call's latency and the wall time of the whole run."""

    latencies_ns: Sequence[int]
    elapsed_ns: int

    def summary(self) -> dict[str, float]:
        """p50 and p99 latency in microseconds, and calls per second."""
        lat = np.asarray(self.latencies_ns, dtype=np.float64) / NS_PER_US
        p50, p99 = np.percentile(lat, [50, 99])
        return {
            "p50_us": round(float(p50), 3),
            "p99_us": round(float(p99), 3),
            "calls_per_s": round(len(lat) * NS_PER_S / self.elapsed_ns, 1),
            "mean_us": round(self.elapsed_ns / len(lat) / NS_PER_US, 4),
        }


async def sequential(call: Call, payload: Any, n: int) -> Run:
    """``n`` calls, one at a time: the latency a single caller sees."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    gc.collect()
    start = clock()
    for _ in range(n):
        t0 = clock()
        await call(payload)
        append(clock() - t0)
    return Run(latencies, clock() - start)


async def concurrent(call: Call, payload: Any, n: int, in_flight: int) -> Run:
    """``n`` calls from ``in_flight`` tasks at once: the throughput of a busy caller."""
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append

    async def caller(count: int) -> None:
        for _ in range(count):
            t0 = clock()
            await call(payload)
            append(clock() - t0)

    share, extra = divmod(n, in_flight)
    gc.collect()
    start = clock()
    await asyncio.gather(*(caller(share + (i < extra)) for i in range(in_flight)))
    return Run(latencies, clock() - start)


def median_summary(runs: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The median of each statistic across repeats (robust to a noisy neighbour)."""
    runs = list(runs)
    return {key: round(statistics.median(r[key] for r in runs), 4) for key in runs[0]}


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on the event loop genweave's workers use (uvloop where installed)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


def environment(**extra: Any) -> dict[str, Any]:
    """What a reader needs to compare two result files: machine, versions, date, load."""
    import msgspec

    import genweave

    try:
        import uvloop

        uvloop_version = uvloop.__version__
    except ImportError:
        uvloop_version = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "genweave": genweave.__version__,
        "msgspec": msgspec.__version__,
        "uvloop": uvloop_version,
        "loop": _running_loop(),
        **extra,
    }


def machine_line(env: Mapping[str, Any]) -> str:
    """The start of every report's second line: when, on what, under which event loop."""
    return f"{env['date']}, Python {env['python']}, {env['cpu_count']} CPUs, {env['loop']}"


def _running_loop() -> str | None:
    """The running event loop's class (``uvloop.Loop``), or None outside one."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return f"{type(loop).__module__}.{type(loop).__name__}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; numbers right-aligned."""
    rows = [[_cell(v) for v in row] for row in rows]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def goal(name: str, measured: float | None, target: str, met: bool) -> dict[str, Any]:
    """One goal of a bench, checked against the run's numbers (``measured`` None: not measured)."""
    return {"goal": name, "measured": None if measured is None else round(measured, 3),
            "target": target, "met": met}


def goals_table(goals: Iterable[Mapping[str, Any]]) -> str:
    """The goals as a Markdown table; a missed one is in bold."""
    return markdown_table(["goal", "measured", "target", "met"], [
        [g["goal"], "-" if g["measured"] is None else g["measured"], g["target"],
         "yes" if g["met"] else "**no**"] for g in goals])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if value < 10 else \
            f"{value:.1f}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").rstrip("x"))
    except ValueError:
        return False
    return True


def save_results(out_dir: Path, name: str, data: Mapping[str, Any], markdown: str) -> list[Path]:
    """Write ``NAME.json`` (raw numbers) and ``NAME.md`` (the table) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return [json_path, md_path]


S = TypeVar("S")


def bench_main(name: str, doc: str, *, full: S, quick: S,
               measure: Callable[[S], Coroutine[Any, Any, dict[str, Any]]],
               goals: Callable[[Any], Any], render: Callable[[dict[str, Any]], str],
               quick_help: str, argv: list[str] | None = None) -> int:
    """The command line every bench shares: ``--quick``, ``--repeats``, ``--out``.

    Runs ``measure`` on uvloop, adds the goals, prints the Markdown and saves
    ``NAME.json`` and ``NAME.md`` (a ``--quick`` run saves only with ``--out``).
    """
    import argparse
    import dataclasses

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{quick_help}: a smoke run, not a measurement")
    parser.add_argument("--repeats", type=int, help="override the number of repeats")
    parser.add_argument("--out", type=Path,
                        help=f"directory for {name}.json and {name}.md (default {RESULTS_DIR}; "
                             "--quick saves nothing unless --out is given)")
    args = parser.parse_args(argv)
    sizes = quick if args.quick else full
    if args.repeats:
        sizes = dataclasses.replace(sizes, repeats=args.repeats)  # type: ignore[type-var]
    report = run_on_uvloop(measure(sizes))
    report["goals"] = goals(report["cases"])
    markdown = render(report)
    print(markdown)
    out = args.out or (None if args.quick else RESULTS_DIR)
    if out is not None:
        save_results(out, name, report, markdown)
    return 0
