"""Text generation with the built-in model: continuous batching against one request at a time.

For 1, 8 and 32 concurrent callers, each running requests back to back, it
measures generated tokens per second, request latency (p50, p99) and time
to first token, for

- ``batched``: ``BuiltinBackend`` with its continuous-batching engine
  (up to 32 requests per decode step);
- ``unbatched``: the same backend with ``max_batch_size=1``, which serves
  requests one at a time: the floor, measured in the same run.

Both see the same prompts and seeds, and TinyLM's output depends on the seed
alone, so both generate exactly the same tokens. Cases are interleaved within
each repeat, so a burst of outside load hits all of them; results are medians
over repeats. The goal: with 32 callers, at least 4x the unbatched throughput
with no worse p99 latency.

Run::

    .venv/bin/python bench/generation.py          # ~2 minutes; writes bench/results/generation.*
    .venv/bin/python bench/generation.py --quick  # smoke run; saves only with --out
"""

from __future__ import annotations

import os

# The engine steps the model in one worker thread beside the event loop. On a
# small machine shared with other work, multi-threaded BLAS oversubscribes the
# cores and large batched steps slow down several times over, so the numbers
# would measure the scheduler, not the engine. Set these variables to override.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
for _variable in BLAS_THREAD_VARIABLES:
    os.environ.setdefault(_variable, "1")

import dataclasses  # noqa: E402
import itertools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pydoc_data.topics import topics  # noqa: E402
from typing import Any, Final  # noqa: E402

import numpy as np  # noqa: E402
from _common import (  # noqa: E402
    bench_main,
    concurrent,
    environment,
    goal,
    goals_table,
    machine_line,
    markdown_table,
    median_summary,
)

from genweave.models.generation import GenerationParams  # noqa: E402
from genweave.models.generation.builtin_impl import BuiltinBackend  # noqa: E402
from genweave.models.tinylm import TinyLM  # noqa: E402

CONCURRENCY: Final = (1, 8, 32)
MODES: Final = {"batched": 32, "unbatched": 1}
"""Mode name -> max_batch_size."""
PROMPT_TOPICS: Final = ("for", "while", "if", "try", "with", "class", "function", "lambda")
PROMPT_CHARS: Final = (24, 48, 96)
TEMPERATURE: Final = 0.8
TOP_P: Final = 0.95
GOAL_CONCURRENCY: Final = 32
MIN_SPEEDUP: Final = 4.0
MS_PER_S: Final = 1_000.0
US_PER_MS: Final = 1_000.0


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much to run: requests per case are ``max(min_requests, per_caller * callers)``."""

    name: str
    repeats: int
    per_caller: int
    min_requests: int
    max_tokens: int


FULL: Final = Sizes("full", repeats=7, per_caller=2, min_requests=8, max_tokens=64)
QUICK: Final = Sizes("quick", repeats=1, per_caller=1, min_requests=2, max_tokens=16)


def prompts() -> list[str]:
    """Short prompts of a few lengths, cut from Python's reference documentation."""
    return [topics[name][:chars] for name in PROMPT_TOPICS for chars in PROMPT_CHARS]


async def run_case(backend: BuiltinBackend, callers: int, sizes: Sizes) -> dict[str, float]:
    """``callers`` tasks issuing requests back to back; one row of statistics."""
    texts = prompts()
    seeds = itertools.count()
    tokens: list[int] = []
    first_token_ms: list[float] = []

    async def request(_: object) -> None:
        seed = next(seeds)
        params = GenerationParams(max_tokens=sizes.max_tokens, temperature=TEMPERATURE,
                                  top_p=TOP_P, seed=seed)
        start = time.perf_counter()
        first = True
        async for delta in backend.generate(texts[seed % len(texts)], params):
            if first and delta.text:
                first_token_ms.append((time.perf_counter() - start) * MS_PER_S)
                first = False
            if delta.usage is not None:
                tokens.append(delta.usage.completion_tokens)

    requests = max(sizes.min_requests, sizes.per_caller * callers)
    run = await concurrent(request, None, requests, callers)
    stats = run.summary()
    return {
        "tokens_per_s": round(sum(tokens) / (run.elapsed_ns / 1e9), 1),
        "p50_ms": round(stats["p50_us"] / US_PER_MS, 2),
        "p99_ms": round(stats["p99_us"] / US_PER_MS, 2),
        "ttft_p50_ms": round(float(np.percentile(first_token_ms, 50)), 2),
        "requests": requests,
        "tokens": sum(tokens),
    }


async def measure(sizes: Sizes) -> dict[str, Any]:
    model = TinyLM.load()
    backends = {mode: BuiltinBackend(model, max_batch_size=size) for mode, size in MODES.items()}
    cases = [(mode, callers) for callers in CONCURRENCY for mode in MODES]
    for mode, callers in cases:  # warm-up: numpy, the KV pool's rows, the worker threads
        await run_case(backends[mode], callers, dataclasses.replace(sizes, max_tokens=4))
    runs: dict[tuple[str, int], list[dict[str, float]]] = {case: [] for case in cases}
    for _ in range(sizes.repeats):
        for mode, callers in cases:
            runs[mode, callers].append(await run_case(backends[mode], callers, sizes))
    for backend in backends.values():
        await backend.close()
    results = {f"{mode}/{callers}": {"mode": mode, "callers": callers,
                                     "median": median_summary(rs), "runs": rs}
               for (mode, callers), rs in runs.items()}
    env = environment(repeats=sizes.repeats, sizes=sizes.name, max_tokens=sizes.max_tokens,
                      blas_threads=os.environ["OPENBLAS_NUM_THREADS"])
    return {"environment": env, "cases": results}


def goals(cases: dict[str, Any]) -> list[dict[str, Any]]:
    batched = cases[f"batched/{GOAL_CONCURRENCY}"]["median"]
    unbatched = cases[f"unbatched/{GOAL_CONCURRENCY}"]["median"]
    speedup = batched["tokens_per_s"] / unbatched["tokens_per_s"]
    p99_ratio = batched["p99_ms"] / unbatched["p99_ms"]
    return [
        goal(f"tokens/s with {GOAL_CONCURRENCY} callers, batched / unbatched", speedup,
              f">= {MIN_SPEEDUP:g}x", speedup >= MIN_SPEEDUP),
        goal(f"p99 latency with {GOAL_CONCURRENCY} callers, batched / unbatched", p99_ratio,
              "<= 1x", p99_ratio <= 1.0),
    ]


def render(report: dict[str, Any]) -> str:
    """The Markdown printed to stdout and saved as ``generation.md``."""
    env, cases = report["environment"], report["cases"]
    rows = []
    for callers in CONCURRENCY:
        floor = cases[f"unbatched/{callers}"]["median"]["tokens_per_s"]
        for mode in MODES:
            m = cases[f"{mode}/{callers}"]["median"]
            rows.append([callers, mode, m["tokens_per_s"], f"{m['tokens_per_s'] / floor:.2f}x",
                         m["p50_ms"], m["p99_ms"], m["ttft_p50_ms"], int(m["requests"])])
    headers = ["callers", "engine", "tokens/s", "vs unbatched", "p50 ms", "p99 ms",
               "first token p50 ms", "requests"]
    return "\n".join([
        "# generation: the built-in model, batched vs unbatched",
        "",
        f"{machine_line(env)}, "
        f"load {env['load_average'][0]}; median of {env['repeats']} repeats; "
        f"{env['blas_threads']} BLAS thread(s); TinyLM, "
        f"up to {env['max_tokens']} tokens per request (temperature {TEMPERATURE}, "
        f"top-p {TOP_P}, seeded; end-of-text ends a request early).",
        "",
        markdown_table(headers, rows),
        "",
        goals_table(report["goals"]),
    ])



def main(argv: list[str] | None = None) -> int:
    return bench_main("generation", __doc__ or "", full=FULL, quick=QUICK, measure=measure,
                      goals=goals, render=render, argv=argv,
                      quick_help="a handful of short requests per case")


if __name__ == "__main__":
    sys.exit(main())
