"""What the operations buy: a second inference replica, and a rollout under load.

Cases, on the ``hybrid`` topology (``core`` = Front, ``infer`` = Infer, which
burns ``cost_ms`` of CPU per call), all on uvloop, with ``IN_FLIGHT`` callers:

1. ``scale``: calls/s and latency with 1 ``infer`` replica, then 2 (``genweave
   scale`` on the running deployment); the baseline is the 1-replica run of the
   same repeat, so the ratio is what selective scaling buys on this machine.
2. ``rollout``: a rollout of ``infer`` to new settings while the callers run:
   failed calls (the goal is zero), how long it takes, and the p99 of calls
   during the rollout against the p99 of the steady load just before it.

Run::

    .venv/bin/python bench/operations.py          # about a minute; writes results/operations.*
    .venv/bin/python bench/operations.py --quick  # smoke run; saves only with --out
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any, Final

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
from operations_app import Front, InferSettings, app

import genweave
from genweave.deploy.local import LocalDeployer
from genweave.topology import preset

APP_PATH: Final = "operations_app:app"
IN_FLIGHT: Final = 16
MIN_SCALE_RATIO: Final = 1.4
"""Two replicas on two cores, with the caller and core process sharing them."""
MAX_ROLLOUT_P99_RATIO: Final = 3.0


@dataclass(frozen=True)
class Sizes:
    name: str
    repeats: int
    calls: int
    rollout_seconds: float
    """How long the steady load runs before the rollout starts."""


FULL: Final = Sizes("full", repeats=3, calls=3_000, rollout_seconds=2.0)
QUICK: Final = Sizes("quick", repeats=1, calls=300, rollout_seconds=0.5)


async def _scale_case(deployer: LocalDeployer, sizes: Sizes) -> dict[str, dict[str, float]]:
    front = deployer.get(Front)
    await deployer.scale("infer", 1)
    await concurrent(front.ask, "warm up", IN_FLIGHT * 10, IN_FLIGHT)
    one = (await concurrent(front.ask, "prompt", sizes.calls, IN_FLIGHT)).summary()
    await deployer.scale("infer", 2)
    await concurrent(front.ask, "warm up", IN_FLIGHT * 10, IN_FLIGHT)
    two = (await concurrent(front.ask, "prompt", sizes.calls, IN_FLIGHT)).summary()
    return {"one_replica": one, "two_replicas": two}


async def _rollout_case(deployer: LocalDeployer, sizes: Sizes, label: str) -> dict[str, float]:
    front = deployer.get(Front)
    stop = asyncio.Event()
    samples: list[tuple[float, float]] = []  # (end time, latency s)
    failures = 0

    async def caller() -> None:
        nonlocal failures
        while not stop.is_set():
            start = time.perf_counter()
            try:
                await front.ask("prompt")
            except genweave.CallError:
                failures += 1
            samples.append((time.perf_counter(), time.perf_counter() - start))

    callers = [asyncio.create_task(caller()) for _ in range(IN_FLIGHT)]
    await asyncio.sleep(sizes.rollout_seconds)
    began = time.perf_counter()
    await deployer.rollout("infer", {"Infer": {"label": label}})
    ended = time.perf_counter()
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*callers)
    steady = [s for t, s in samples if began - sizes.rollout_seconds / 2 <= t < began]
    during = [s for t, s in samples if began <= t <= ended]
    return {
        "failed_calls": float(failures),
        "calls": float(len(samples)),
        "rollout_s": round(ended - began, 3),
        "steady_p99_ms": round(float(np.percentile(steady, 99)) * 1000, 3),
        "during_p99_ms": round(float(np.percentile(during, 99)) * 1000, 3),
    }


async def measure(sizes: Sizes) -> dict[str, Any]:
    loop = type(asyncio.get_running_loop())
    topology = preset("hybrid", app)
    deployer = genweave.deployment(APP_PATH, topology, "process", log=lambda line: None)
    assert isinstance(deployer, LocalDeployer)
    scale_runs: dict[str, list[dict[str, float]]] = {"one_replica": [], "two_replicas": []}
    rollouts: list[dict[str, float]] = []
    async with deployer:
        for repeat in range(sizes.repeats):
            print(f"repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
            for key, summary in (await _scale_case(deployer, sizes)).items():
                scale_runs[key].append(summary)
            rollouts.append(await _rollout_case(deployer, sizes, f"v{repeat + 2}"))
    return {
        "bench": "operations",
        "environment": environment(loop=f"{loop.__module__}.{loop.__qualname__}",
                                   repeats=sizes.repeats, calls=sizes.calls,
                                   in_flight=IN_FLIGHT, sizes=sizes.name,
                                   cost_ms=InferSettings().cost_ms),
        "cases": {
            **{key: {"median": median_summary(runs), "repeats": runs}
               for key, runs in scale_runs.items()},
            "rollout": {"median": median_summary(rollouts), "repeats": rollouts,
                        "failed_calls_total": sum(r["failed_calls"] for r in rollouts)},
        },
    }


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    scale = (cases["two_replicas"]["median"]["calls_per_s"]
             / cases["one_replica"]["median"]["calls_per_s"])
    rollout = cases["rollout"]
    p99 = rollout["median"]["during_p99_ms"] / rollout["median"]["steady_p99_ms"]
    return [
        goal("calls/s with 2 infer replicas / with 1", scale, f">= {MIN_SCALE_RATIO:g}x",
              scale >= MIN_SCALE_RATIO),
        goal("failed calls during rollouts (all repeats)", rollout["failed_calls_total"], "0",
              rollout["failed_calls_total"] == 0),
        goal("p99 during a rollout / steady p99", p99, f"<= {MAX_ROLLOUT_P99_RATIO:g}x",
              p99 <= MAX_ROLLOUT_P99_RATIO),
    ]


def render(report: dict[str, Any]) -> str:
    env, cases = report["environment"], report["cases"]
    scale_rows = [[label, cases[key]["median"]["calls_per_s"], cases[key]["median"]["p50_us"],
                   cases[key]["median"]["p99_us"]]
                  for key, label in (("one_replica", "infer x1"), ("two_replicas", "infer x2"))]
    r = cases["rollout"]["median"]
    rollout_rows = [[r["calls"], cases["rollout"]["failed_calls_total"], r["rollout_s"],
                     r["steady_p99_ms"], r["during_p99_ms"]]]
    return "\n".join([
        "# operations: what selective scaling and rollouts buy",
        "",
        f"{machine_line(env)}, "
        f"load {env['load_average'][0]}; median of {env['repeats']} repeats; "
        f"{env['in_flight']} callers; Infer burns {env['cost_ms']:g} ms of CPU per call.",
        "",
        markdown_table(["case", "calls/s", "p50 µs", "p99 µs"], scale_rows),
        "",
        markdown_table(["calls during load", "failed (all repeats)", "rollout s",
                        "steady p99 ms", "rollout p99 ms"], rollout_rows),
        "",
        goals_table(report["goals"]),
    ])


def main(argv: list[str] | None = None) -> int:
    return bench_main("operations", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="a few hundred calls per case")


if __name__ == "__main__":
    sys.exit(main())
