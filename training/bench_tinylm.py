"""Measure TinyLM decode throughput: one sequence at a time versus a batch.

    python training/bench_tinylm.py                 # batch sizes 1, 8, 32
    OPENBLAS_NUM_THREADS=1 python training/bench_tinylm.py --batch 1 32

Each run starts ``batch`` sequences from different pydoc prompts, then times
``--tokens`` batched steps; "sequential" times the same number of tokens
generated for the sequences one at a time, the way 32 separate request loops
would, for comparison.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from pydoc_data.topics import topics

from genweave.models.tinylm import Sequence, TinyLM

PROMPT_BYTES = 64


def _start(lm: TinyLM, batch: int) -> list[Sequence]:
    names = sorted(topics)
    return [
        lm.start(lm.encode(topics[names[i % len(names)]][:PROMPT_BYTES]), seed=i, temperature=0.8)
        for i in range(batch)
    ]


def batched_rate(lm: TinyLM, batch: int, tokens: int) -> float:
    seqs = _start(lm, batch)
    begin = time.perf_counter()
    for _ in range(tokens):
        lm.step(seqs)
    elapsed = time.perf_counter() - begin
    for seq in seqs:
        seq.close()
    return batch * tokens / elapsed


def sequential_rate(lm: TinyLM, batch: int, tokens: int) -> float:
    seqs = _start(lm, batch)
    begin = time.perf_counter()
    for seq in seqs:
        for _ in range(tokens):
            lm.step([seq])
    elapsed = time.perf_counter() - begin
    for seq in seqs:
        seq.close()
    return batch * tokens / elapsed


def prefill_rate(lm: TinyLM, repeats: int) -> float:
    ids = lm.encode(topics["for"])[: lm.context_length]
    begin = time.perf_counter()
    for _ in range(repeats):
        lm.start(ids).close()
    return repeats * len(ids) / (time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped ones")
    args = parser.parse_args()
    lm = TinyLM.load(args.weights)
    batched_rate(lm, max(args.batch), 4)  # warm the KV pool to its final size
    print(f"prefill: {prefill_rate(lm, 20):,.0f} prompt tokens/s")
    print(f"{'batch':>5} {'batched tok/s':>14} {'sequential tok/s':>17} {'speed-up':>9}")
    for batch in args.batch:
        together = batched_rate(lm, batch, args.tokens)
        apart = sequential_rate(lm, batch, max(8, args.tokens // batch))
        print(f"{batch:>5} {together:>14,.0f} {apart:>17,.0f} {together / apart:>8.1f}x")


if __name__ == "__main__":
    main()
