"""A batched step computes what separate steps compute, only faster."""

from __future__ import annotations

from pydoc_data.topics import topics

import numpy as np
import pytest

from genweave.models.tinylm import Sequence, TinyLM
from genweave.models.tinylm.sampling import sample

PROMPTS = ["", "The", "A for loop iterates", topics["if"][:200], topics["while"][:600]]
ATOL = 1e-4


@pytest.fixture(scope="module")
def lm() -> TinyLM:
    return TinyLM.load()


def _start_all(lm: TinyLM, temperature: float = 0.9) -> list[Sequence]:
    return [lm.start(lm.encode(p), temperature=temperature, seed=i) for i, p in enumerate(PROMPTS)]


def test_batched_logits_equal_one_at_a_time(lm: TinyLM) -> None:
    seqs = _start_all(lm)
    assert len({s.position for s in seqs}) == len(seqs)  # all different lengths
    batched = lm.logits(seqs)
    alone = np.concatenate([lm.logits([s]) for s in seqs])
    np.testing.assert_allclose(batched, alone, atol=ATOL)


def test_batched_steps_generate_what_separate_steps_generate(lm: TinyLM) -> None:
    together, apart = _start_all(lm), _start_all(lm)
    for _ in range(12):
        lm.step(together)
        for seq in apart:
            lm.step([seq])
    assert [s.tokens for s in together] == [s.tokens for s in apart]


def test_sequences_join_and_leave_between_steps(lm: TinyLM) -> None:
    seqs = _start_all(lm)
    lm.step(seqs)
    seqs[1].close()
    live = [seqs[0], *seqs[2:], lm.start(lm.encode("Late arrival"), seed=9)]
    expected = np.concatenate([lm.logits([s]) for s in live])
    np.testing.assert_allclose(lm.logits(live), expected, atol=ATOL)
    lm.step(live)


def test_rows_far_apart_are_gathered(lm: TinyLM) -> None:
    seqs = [lm.start(lm.encode(f"Sequence {i}"), seed=i) for i in range(12)]
    spread = [seqs[0], seqs[11]]
    for seq in seqs[1:11]:
        seq.close()
    expected = np.concatenate([lm.logits([s]) for s in spread])
    np.testing.assert_allclose(lm.logits(spread), expected, atol=ATOL)


def test_one_step_mixes_rows_before_and_past_the_context(lm: TinyLM) -> None:
    long = lm.start(lm.encode(topics["class"]), seed=0)
    short = lm.start(lm.encode("Short"), seed=1)
    for _ in range(3):
        lm.step([long, short])
    assert long.position >= lm.context_length > short.position
    expected = np.concatenate([lm.logits([long]), lm.logits([short])])
    np.testing.assert_allclose(lm.logits([long, short]), expected, atol=ATOL)


def test_step_arguments_override_each_sequence_settings(lm: TinyLM) -> None:
    a, b = _start_all(lm, temperature=5.0)[:2], _start_all(lm, temperature=5.0)[:2]
    greedy = [int(t) for t in lm.logits(a).argmax(axis=-1)]
    assert lm.step(a, temperature=0.0) == greedy
    lm.step(b, temperature=0.0)
    shared = lm.step(a, temperature=0.7, rng=np.random.default_rng(3))
    assert lm.step(b, temperature=0.7, rng=np.random.default_rng(3)) == shared


def test_a_rows_samples_do_not_depend_on_its_batch_mates(lm: TinyLM) -> None:
    alone = lm.start(lm.encode("The del statement"), seed=4)
    paired = lm.start(lm.encode("The del statement"), seed=4)
    mate = lm.start(lm.encode("Other"), temperature=0.0)
    nucleus = lm.start(lm.encode("More"), top_p=0.5, seed=1)
    for _ in range(15):
        lm.step([alone])
        lm.step([mate, paired, nucleus])
    assert alone.tokens == paired.tokens


def test_top_p_keeps_only_the_likeliest_tokens() -> None:
    logits = np.log(np.array([[0.1, 0.5, 0.3, 0.1]] * 400, dtype=np.float32))
    rngs = [np.random.default_rng(i) for i in range(400)]
    drawn = sample(logits, np.ones(400), np.full(400, 0.6), rngs)
    assert set(drawn) == {1, 2}
    assert sample(logits[:1], np.zeros(1), np.ones(1), rngs[:1]) == [1]
