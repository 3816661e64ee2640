"""TinyLM's public behaviour: loading, tokens, seeds, context limits, quality."""

from __future__ import annotations

import collections
import math
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest

from genweave.models.tinylm import EOS_ID, ByteTokenizer, TinyLM, load_weights, save_weights

EVAL_BYTES = 3000


@pytest.fixture(scope="module")
def lm() -> TinyLM:
    return TinyLM.load()


def test_shipped_weights_load_with_their_config(lm: TinyLM) -> None:
    assert lm.context_length == 256
    assert lm.eos_id == EOS_ID == 256
    assert lm.vocab_size == 257
    assert lm.info["heldout_topics"]


def test_weights_round_trip_through_a_file(lm: TinyLM, tmp_path: Path) -> None:
    config, params, info = load_weights(
        Path(__file__).parents[2] / "src" / "genweave" / "models" / "tinylm" / "tinylm.npz"
    )
    save_weights(tmp_path / "copy.npz", config, params, info)
    copy = TinyLM.load(tmp_path / "copy.npz")
    ids = lm.encode("The import statement")
    np.testing.assert_array_equal(copy.log_probs(ids), lm.log_probs(ids))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Path) -> None:
    config, params, info = load_weights(
        Path(__file__).parents[2] / "src" / "genweave" / "models" / "tinylm" / "tinylm.npz"
    )
    params["ln_f.w"] = params["ln_f.w"][:-1]
    with pytest.raises(ValueError, match=r"ln_f\.w has shape"):
        save_weights(tmp_path / "bad.npz", config, params, info)


def test_text_round_trips_through_bytes(lm: TinyLM) -> None:
    text = "déjà vu: x → y"
    assert lm.decode(lm.encode(text)) == text
    assert lm.decode([*lm.encode("ok"), lm.eos_id]) == "ok"


def test_stream_decoder_holds_back_partial_characters() -> None:
    dec = ByteTokenizer().stream()
    assert [dec.push(i) for i in "é!".encode()] == ["", "é", "!"]
    assert dec.push(EOS_ID) == ""
    assert dec.flush() == ""


def test_generation_is_deterministic_given_a_seed(lm: TinyLM) -> None:
    first = lm.generate("The with statement", max_tokens=40, seed=7)
    assert lm.generate("The with statement", max_tokens=40, seed=7) == first
    assert lm.generate("The with statement", max_tokens=40, seed=8) != first


def test_greedy_decoding_needs_no_seed(lm: TinyLM) -> None:
    runs = {lm.generate("A class definition", max_tokens=30, temperature=0.0) for _ in range(2)}
    assert len(runs) == 1


def test_a_long_prompt_keeps_its_last_context(lm: TinyLM) -> None:
    ids = lm.encode(topics["assert"] * 3)
    assert len(ids) > 3 * lm.context_length
    with lm.start(ids) as seq, lm.start(ids[-lm.context_length :], bos=False) as tail:
        assert seq.tokens == ids[-lm.context_length :]
        np.testing.assert_allclose(lm.logits([seq]), lm.logits([tail]), atol=1e-5)


def test_a_sequence_slides_past_its_context(lm: TinyLM) -> None:
    with lm.start(lm.encode(topics["for"])[: lm.context_length - 3], seed=0) as seq:
        for _ in range(10):
            lm.step([seq])
        assert seq.position > lm.context_length
        assert np.isfinite(lm.logits([seq])).all()
        assert len(seq.generated) == 10


def test_an_empty_prompt_starts_a_document(lm: TinyLM) -> None:
    with lm.start([], seed=0) as seq:
        assert seq.tokens == [lm.eos_id]
        lm.step([seq])
    with pytest.raises(ValueError, match="prompt is empty"):
        lm.start([], bos=False)


def test_out_of_vocabulary_ids_are_refused(lm: TinyLM) -> None:
    with pytest.raises(ValueError, match=r"0\.\.256"):
        lm.start([65, lm.vocab_size])


def test_closed_rows_are_reused(lm: TinyLM) -> None:
    before = lm.live_sequences
    seq = lm.start(lm.encode("x"))
    row = seq.row
    assert lm.live_sequences == before + 1
    seq.close()
    seq.close()
    assert lm.live_sequences == before
    with lm.start(lm.encode("y")) as again:
        assert again.row == row


@pytest.mark.parametrize("problem", ["empty", "twice", "closed", "foreign"])
def test_step_refuses_a_bad_batch(lm: TinyLM, problem: str) -> None:
    seq = lm.start(lm.encode("x"))
    batch = {
        "empty": [],
        "twice": [seq, seq],
        "closed": [seq],
        "foreign": [TinyLM.load().start(lm.encode("x"))],
    }[problem]
    if problem == "closed":
        seq.close()
    with pytest.raises(ValueError, match=r"TinyLM\.step"):
        lm.step(batch)


def test_trained_model_predicts_unseen_documentation(lm: TinyLM) -> None:
    """On pydoc topics held out of training, the model needs far fewer nats
    per byte than a uniform guess, or than the text's own byte frequencies
    (about 5.5 and 3.2 nats; the shipped model needs about 1.5)."""
    text = "".join(topics[name] for name in lm.info["heldout_topics"])[:EVAL_BYTES]
    ids = lm.encode(text)
    model_nats = -float(lm.log_probs(ids).mean())
    counts = collections.Counter(ids)
    unigram_nats = -sum(c / len(ids) * math.log(c / len(ids)) for c in counts.values())
    assert model_nats < unigram_nats - 1.0
    assert model_nats < 0.35 * math.log(lm.vocab_size)
