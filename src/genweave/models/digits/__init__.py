"""DigitPainter: a small conditional VAE that draws handwritten digits,
trained on scikit-learn's 8x8 digits and run in pure numpy.

>>> from genweave.models.digits import DigitPainter
>>> png = DigitPainter.load().draw("draw a seven", seed=0)
"""

from __future__ import annotations

from .painter import DEFAULT_WEIGHTS, DigitPainter, Drawing
from .png import PNG_SIGNATURE, encode_png
from .prompt import parse_digit

__all__ = [
    "DEFAULT_WEIGHTS",
    "PNG_SIGNATURE",
    "DigitPainter",
    "Drawing",
    "encode_png",
    "parse_digit",
]
