"""Turning an 8x8 ink map into a clean picture of any size.

Nearest-neighbour enlargement of 8x8 pixels shows blocks, not a digit. A
bicubic (Catmull-Rom) resampling gives smooth strokes; a smoothstep on the
result then turns the blurred stroke edges back into ink on paper, with an
anti-aliased edge a couple of output pixels wide at any size. The resampling
is a pair of small matrix products, so a 1024-pixel image costs little.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["render"]

F64 = NDArray[np.float64]

MARGIN_PIXELS = 1  # blank border around the 8x8 digit, in source pixels
INK_THRESHOLD = 0.55  # interpolated ink level where the stroke's edge is drawn
EDGE_PIXELS = 2.0  # width of the anti-aliased edge, in output pixels
EDGE_BAND_MIN, EDGE_BAND_MAX = 0.08, 0.5  # same edge, in ink levels
PAPER, INK = 255.0, 0.0


def render(ink: F64, size: int) -> NDArray[np.uint8]:
    """Greyscale ``(size, size)`` image of an ink map with values in [0, 1].

    >>> render(np.zeros((8, 8)), 16).min()
    np.uint8(255)
    """
    padded = np.pad(ink, MARGIN_PIXELS)
    resize = _cubic_matrix(padded.shape[0], size)
    smooth = resize @ padded @ resize.T
    # Ink changes by about one level per source pixel, so this band spans
    # EDGE_PIXELS output pixels.
    band = np.clip(EDGE_PIXELS * padded.shape[0] / size, EDGE_BAND_MIN, EDGE_BAND_MAX)
    level: F64 = np.clip((smooth - INK_THRESHOLD) / band + 0.5, 0.0, 1.0)
    level = level * level * (3.0 - 2.0 * level)
    return np.round(PAPER + (INK - PAPER) * level).astype(np.uint8)


def _cubic_matrix(src: int, dst: int) -> F64:
    """``(dst, src)`` weights of Catmull-Rom interpolation, edges clamped."""
    centres = (np.arange(dst) + 0.5) * src / dst - 0.5
    base = np.floor(centres).astype(np.int64)
    weights = np.zeros((dst, src))
    for offset in (-1, 0, 1, 2):
        taps = base + offset
        weights[np.arange(dst), np.clip(taps, 0, src - 1)] += _catmull_rom(centres - taps)
    return weights


def _catmull_rom(t: F64) -> F64:
    t = np.abs(t)
    near = 1.5 * t**3 - 2.5 * t**2 + 1.0
    far = -0.5 * t**3 + 2.5 * t**2 - 4.0 * t + 2.0
    return np.where(t <= 1.0, near, np.where(t < 2.0, far, 0.0))
