"""DigitPainter: the built-in image model, drawing handwritten digits.

The decoder of a class-conditional VAE trained on scikit-learn's 8x8
digits (``training/train_digits.py``), run in numpy: a latent vector drawn
from the seed plus the requested digit go through three dense layers to an
8x8 ink map, which is rendered at the requested size and encoded as PNG.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .png import encode_png
from .prompt import parse_digit
from .raster import render

__all__ = ["DEFAULT_WEIGHTS", "DigitPainter", "Drawing"]

DEFAULT_WEIGHTS = Path(__file__).with_name("digits.npz")
CLASSES = 10
SIDE = 8
MIN_SIZE, MAX_SIZE = 8, 2048
SEED_BITS = 31

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Drawing:
    """A drawn digit and how it was chosen; ``seed`` redraws the same image."""

    png: bytes
    digit: int
    digit_from_prompt: bool
    seed: int
    size: int


class DigitPainter:
    """Draws the digit a prompt names, as PNG bytes.

    >>> painter = DigitPainter.load()
    >>> png = painter.draw("draw a 7", seed=1, size=64)
    >>> drawing = painter.draw_with_info("surprise me", seed=3)
    >>> drawing.digit_from_prompt, 0 <= drawing.digit <= 9
    (False, True)
    """

    def __init__(self, layers: list[tuple[F64, F64]], info: dict[str, Any]) -> None:
        self._layers = layers
        self.info = info
        self.latent = layers[0][0].shape[0] - CLASSES
        self.sample_scale = float(info.get("sample_scale", 1.0))

    @classmethod
    def load(cls, path: str | Path | None = None) -> DigitPainter:
        """Load a decoder from ``path``, or the one shipped in the package."""
        with np.load(DEFAULT_WEIGHTS if path is None else path, allow_pickle=False) as data:
            info: dict[str, Any] = json.loads(str(data["__info__"]))
            count = sum(1 for k in data.files if k.endswith(".w"))
            layers = [
                (data[f"dec.{i}.w"].astype(np.float64), data[f"dec.{i}.b"].astype(np.float64))
                for i in range(count)
            ]
        return cls(layers, info)

    def draw(self, prompt: str, seed: int | None = None, size: int = 256) -> bytes:
        """PNG bytes of the digit in ``prompt``; see :meth:`draw_with_info`."""
        return self.draw_with_info(prompt, seed, size).png

    def draw_with_info(self, prompt: str, seed: int | None = None, size: int = 256) -> Drawing:
        """Draw the digit ``prompt`` names, or one the seed picks if it names
        none. The same prompt, seed and size give the same bytes; ``seed=None``
        picks a fresh seed, reported in the result."""
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"DigitPainter.draw: size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
        if seed is None:
            seed = secrets.randbits(SEED_BITS)
        rng = np.random.default_rng(seed)
        # Always drawn, so a seed yields the same strokes whether the digit
        # came from the prompt or from the seed.
        seeded_digit = int(rng.integers(CLASSES))
        asked = parse_digit(prompt)
        digit = seeded_digit if asked is None else asked
        ink = self.ink(digit, rng.standard_normal(self.latent) * self.sample_scale)
        return Drawing(
            png=encode_png(render(ink, size)),
            digit=digit,
            digit_from_prompt=asked is not None,
            seed=seed,
            size=size,
        )

    def ink(self, digit: int, z: F64) -> F64:
        """The decoder: an 8x8 ink map in [0, 1] for ``digit`` and latent ``z``."""
        if not 0 <= digit < CLASSES:
            raise ValueError(f"DigitPainter.ink: digit must be 0-9, got {digit}")
        h = np.concatenate([z, np.eye(CLASSES)[digit]])
        for i, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if i < len(self._layers) - 1:
                h = np.maximum(h, 0.0)
        return (1.0 / (1.0 + np.exp(-h))).reshape(SIDE, SIDE)  # type: ignore[no-any-return]
