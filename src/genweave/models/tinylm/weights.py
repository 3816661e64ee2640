"""The on-disk format of TinyLM weights: one compressed ``.npz`` file.

Every matrix is stored in the orientation the numpy forward pass uses
(``x @ W``), as float16 to halve the file; loading widens to float32, which
is what the CPU computes fastest with. The configuration and the training
record travel in the same file as JSON strings, so a weights file is
self-describing and cannot be paired with the wrong hyperparameters.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_WEIGHTS", "ModelConfig", "Params", "load_weights", "save_weights"]

DEFAULT_WEIGHTS = Path(__file__).with_name("tinylm.npz")
FORMAT_VERSION = 1

Params = dict[str, NDArray[np.float32]]


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a TinyLM decoder: pre-norm blocks, rotary positions, tied
    input and output embeddings, bias-free projections."""

    vocab_size: int
    context_length: int
    d_model: int
    n_layers: int
    n_heads: int
    eos_id: int
    rope_base: float = 10000.0
    layer_norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter's name and shape; loading checks a file against it."""
        d, hidden = self.d_model, 4 * self.d_model
        shapes: dict[str, tuple[int, ...]] = {
            "tok_emb": (self.vocab_size, d),
            "ln_f.w": (d,),
            "ln_f.b": (d,),
        }
        for i in range(self.n_layers):
            p = f"blocks.{i}."
            shapes |= {
                p + "ln1.w": (d,),
                p + "ln1.b": (d,),
                p + "attn.qkv": (d, 3 * d),
                p + "attn.out": (d, d),
                p + "ln2.w": (d,),
                p + "ln2.b": (d,),
                p + "mlp.up": (d, hidden),
                p + "mlp.down": (hidden, d),
            }
        return shapes


def save_weights(
    path: str | Path, config: ModelConfig, params: Params, info: dict[str, Any]
) -> None:
    """Write ``params`` as float16 with the config and training record."""
    _check_shapes(config, params, str(path))
    arrays: dict[str, NDArray[Any]] = {k: v.astype(np.float16) for k, v in params.items()}
    arrays["__config__"] = np.array(json.dumps(asdict(config)))
    arrays["__info__"] = np.array(json.dumps(info | {"format": FORMAT_VERSION}))
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load_weights(path: str | Path) -> tuple[ModelConfig, Params, dict[str, Any]]:
    """Read a weights file written by :func:`save_weights`."""
    with np.load(path, allow_pickle=False) as data:
        config = ModelConfig(**json.loads(str(data["__config__"])))
        info: dict[str, Any] = json.loads(str(data["__info__"]))
        params = {k: data[k].astype(np.float32) for k in data.files if not k.startswith("__")}
    _check_shapes(config, params, str(path))
    return config, params, info


def _check_shapes(config: ModelConfig, params: Params, where: str) -> None:
    expected = config.param_shapes()
    if set(params) != set(expected):
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        raise ValueError(
            f"{where}: weights do not match the config (missing {missing}, unexpected {extra})"
        )
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(
                f"{where}: {name} has shape {params[name].shape}, the config needs {shape}"
            )
