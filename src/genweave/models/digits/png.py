"""A minimal PNG encoder (8-bit greyscale) on the standard library.

Enough for the image model's output, and it spares the run time a Pillow
dependency.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from numpy.typing import NDArray

__all__ = ["PNG_SIGNATURE", "encode_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BIT_DEPTH = 8
COLOUR_GREYSCALE = 0
FILTER_NONE = 0
ZLIB_LEVEL = 6


def encode_png(pixels: NDArray[np.uint8]) -> bytes:
    """Encode a ``(height, width)`` uint8 array, 0 black to 255 white.

    >>> encode_png(np.zeros((2, 3), dtype=np.uint8))[:8] == PNG_SIGNATURE
    True
    """
    if pixels.ndim != 2 or pixels.dtype != np.uint8 or 0 in pixels.shape:
        raise ValueError(
            f"encode_png needs a non-empty 2-D uint8 array, got {pixels.dtype} {pixels.shape}"
        )
    height, width = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, BIT_DEPTH, COLOUR_GREYSCALE, 0, 0, 0)
    # Every scanline starts with its filter type; "none" suits smooth small images well enough.
    rows = np.hstack([np.full((height, 1), FILTER_NONE, dtype=np.uint8), pixels])
    body = zlib.compress(rows.tobytes(), ZLIB_LEVEL)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
