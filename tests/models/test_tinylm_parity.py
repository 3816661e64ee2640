"""The numpy TinyLM computes what the torch training model computes.

Runs only where torch is installed (it is a training-only dependency).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from genweave.models.tinylm import TinyLM
from genweave.models.tinylm.weights import ModelConfig

torch = pytest.importorskip("torch")

TRAIN_SCRIPT = Path(__file__).parents[2] / "training" / "train_tinylm.py"
SMALL = ModelConfig(
    vocab_size=257, context_length=16, d_model=32, n_layers=2, n_heads=2, eos_id=256
)


def _training_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_tinylm", TRAIN_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pair() -> tuple[object, TinyLM]:
    train = _training_module()
    torch.manual_seed(0)
    net = train.TorchTinyLM(SMALL)
    with torch.no_grad():
        for p in net.parameters():  # move LayerNorm off its identity init
            p.add_(0.05 * torch.randn_like(p))
    return net, TinyLM(SMALL, net.export())


def test_full_forward_matches_torch(pair: tuple[object, TinyLM]) -> None:
    net, lm = pair
    ids = np.random.default_rng(0).integers(0, 256, size=SMALL.context_length)
    with torch.no_grad():
        expected = net(torch.from_numpy(ids)[None])[0].numpy()  # type: ignore[operator]
    got = lm._net.score(ids)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_cached_decode_matches_torch(pair: tuple[object, TinyLM]) -> None:
    net, lm = pair
    ids = [int(i) for i in np.random.default_rng(1).integers(0, 256, size=12)]
    with torch.no_grad():
        expected = net(torch.tensor(ids)[None])[0].numpy()  # type: ignore[operator]
    seq = lm.start(ids[:5], bos=False, temperature=0.0)
    for i in range(4, len(ids)):
        np.testing.assert_allclose(lm.logits([seq])[0], expected[i], atol=1e-4, rtol=1e-4)
        if i + 1 < len(ids):
            seq.tokens.append(ids[i + 1])
