"""Dynamic batching of the sentence encoder: concurrent single queries, batched or not.

For 1, 8 and 48 concurrent callers, each submitting one query at a time back
to back, it measures queries per second and latency (p50, p99) through a
``DynamicBatcher`` in front of the all-MiniLM-L6-v2 sentence encoder, for

- ``batched``: up to 32 queries per encoder call, gathered for at most 5 ms;
- ``unbatched``: the same batcher with ``max_batch=1``, so every query is its
  own encoder call: the floor, measured in the same run.

Both encode the same queries, and the vectors must agree (checked before
anything is timed).  Cases are interleaved within each repeat, so a burst of
outside load hits all of them; results are medians over repeats.  The goal:
with 48 callers, at least 2x the unbatched throughput.

Run::

    .venv/bin/python bench/batching.py          # ~1 minute; writes bench/results/batching.*
    .venv/bin/python bench/batching.py --quick  # smoke run; saves only with --out
"""

from __future__ import annotations

import asyncio
import itertools
import sys
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

from genweave.models.batching import DynamicBatcher
from genweave.models.embedding import SentenceEncoder

CONCURRENCY: Final = (1, 8, 48)
MODES: Final = {"batched": 32, "unbatched": 1}
"""Mode name -> max_batch."""
MAX_WAIT: Final = 0.005
GOAL_CONCURRENCY: Final = 48
MIN_SPEEDUP: Final = 2.0
VECTOR_TOLERANCE: Final = 1e-4
US_PER_MS: Final = 1_000.0
QUERIES: Final = [f"How do I use the {word} statement with {thing}?"
                  for word in ("for", "while", "with", "try", "if", "import", "raise", "del")
                  for thing in ("lists", "files", "classes", "errors", "generators", "dicts")]
"""48 distinct questions of the kind the reference app's retriever embeds."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much to run: queries per case are ``max(min_queries, per_caller * callers)``."""

    name: str
    repeats: int
    per_caller: int
    min_queries: int


FULL: Final = Sizes("full", repeats=5, per_caller=4, min_queries=48)
QUICK: Final = Sizes("quick", repeats=1, per_caller=1, min_queries=8)

Batcher = DynamicBatcher[str, np.ndarray]


async def run_case(batcher: Batcher, callers: int, sizes: Sizes) -> dict[str, float]:
    """``callers`` tasks submitting queries back to back; one row of statistics."""
    queries = itertools.cycle(QUERIES)
    before = batcher.stats

    async def query(_: object) -> None:
        await batcher.submit(next(queries))

    count = max(sizes.min_queries, sizes.per_caller * callers)
    stats = (await concurrent(query, None, count, callers)).summary()
    after = batcher.stats
    batches = after.batches - before.batches
    return {
        "queries_per_s": stats["calls_per_s"],
        "p50_ms": round(stats["p50_us"] / US_PER_MS, 2),
        "p99_ms": round(stats["p99_us"] / US_PER_MS, 2),
        "mean_batch": round((after.items - before.items) / batches, 2) if batches else 0.0,
        "queries": count,
    }


async def check_agreement(batchers: dict[str, Batcher]) -> None:
    """Batching must not change a vector: every mode encodes every query alike."""
    vectors = {mode: await asyncio.gather(*(b.submit(q) for q in QUERIES))
               for mode, b in batchers.items()}
    np.testing.assert_allclose(vectors["batched"], vectors["unbatched"], atol=VECTOR_TOLERANCE)


async def measure(sizes: Sizes) -> dict[str, Any]:
    encoder = SentenceEncoder.load()

    def encode(texts: list[str]) -> list[np.ndarray]:
        return list(encoder.encode(texts))

    batchers: dict[str, Batcher] = {
        mode: DynamicBatcher(encode, max_batch=size, max_wait=MAX_WAIT, name=mode)
        for mode, size in MODES.items()}
    await check_agreement(batchers)  # also the warm-up: the model, its threads, the batchers
    cases = [(mode, callers) for callers in CONCURRENCY for mode in MODES]
    runs: dict[tuple[str, int], list[dict[str, float]]] = {case: [] for case in cases}
    for repeat in range(sizes.repeats):
        print(f"repeat {repeat + 1}/{sizes.repeats}", file=sys.stderr, flush=True)
        for mode, callers in cases:
            runs[mode, callers].append(await run_case(batchers[mode], callers, sizes))
    for batcher in batchers.values():
        await batcher.close()
    results = {f"{mode}/{callers}": {"mode": mode, "callers": callers,
                                     "median": median_summary(rs), "runs": rs}
               for (mode, callers), rs in runs.items()}
    env = environment(repeats=sizes.repeats, sizes=sizes.name,
                      model=encoder.name, max_wait_ms=MAX_WAIT * 1_000)
    return {"bench": "batching", "environment": env, "cases": results}


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    """Batching must pay where it is meant to: many callers at once."""
    batched = cases[f"batched/{GOAL_CONCURRENCY}"]["median"]
    unbatched = cases[f"unbatched/{GOAL_CONCURRENCY}"]["median"]
    speedup = batched["queries_per_s"] / unbatched["queries_per_s"]
    return [goal(f"queries/s with {GOAL_CONCURRENCY} callers, batched / unbatched", speedup,
                 f">= {MIN_SPEEDUP:g}x", speedup >= MIN_SPEEDUP)]


def render(report: dict[str, Any]) -> str:
    """The Markdown printed to stdout and saved as ``batching.md``."""
    env, cases = report["environment"], report["cases"]
    rows = []
    for callers in CONCURRENCY:
        floor = cases[f"unbatched/{callers}"]["median"]["queries_per_s"]
        for mode in MODES:
            m = cases[f"{mode}/{callers}"]["median"]
            rows.append([callers, mode, m["queries_per_s"], f"{m['queries_per_s'] / floor:.2f}x",
                         m["p50_ms"], m["p99_ms"], m["mean_batch"], int(m["queries"])])
    headers = ["callers", "mode", "queries/s", "vs unbatched", "p50 ms", "p99 ms",
               "mean batch", "queries"]
    return "\n".join([
        "# batching: the sentence encoder behind a dynamic batcher",
        "",
        f"{machine_line(env)}, "
        f"load {env['load_average'][0]}; median of {env['repeats']} repeats; "
        f"{env['model']}, batches of up to {MODES['batched']} gathered for at most "
        f"{env['max_wait_ms']:g} ms.",
        "",
        markdown_table(headers, rows),
        "",
        goals_table(report["goals"]),
    ])



def main(argv: list[str] | None = None) -> int:
    return bench_main("batching", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="a few queries per case")


if __name__ == "__main__":
    sys.exit(main())
