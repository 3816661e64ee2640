"""DigitPainter: prompts, seeds, PNG output and the trained decoder."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from numpy.typing import NDArray

from genweave.models.digits import PNG_SIGNATURE, DigitPainter, encode_png, parse_digit


@pytest.fixture(scope="module")
def painter() -> DigitPainter:
    return DigitPainter.load()


def read_png(data: bytes) -> NDArray[np.uint8]:
    """Decode the greyscale, unfiltered PNGs this package writes, checking
    every chunk's CRC on the way."""
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + length
    assert list(chunks) == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    rows = rows.reshape(height, width + 1)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:]


@pytest.mark.parametrize(
    ("prompt", "digit"),
    [
        ("draw a 7", 7),
        ("seven", 7),
        ("the number 3", 3),
        ("Draw me a NINE please", 9),
        ("3s and more", 3),
        ("one 4", 4),
        ("a picture of zero", 0),
        ("nought", 0),
        ("draw 12", None),
        ("pi is 3.14", None),
        ("a cat", None),
        ("someone", None),
        ("", None),
    ],
)
def test_parse_digit(prompt: str, digit: int | None) -> None:
    assert parse_digit(prompt) == digit


def test_encode_png_round_trips_pixels() -> None:
    pixels = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    np.testing.assert_array_equal(read_png(encode_png(pixels)), pixels)
    with pytest.raises(ValueError, match="2-D uint8"):
        encode_png(np.zeros((2, 2, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [8, 100, 256])
def test_draw_returns_a_png_of_the_requested_size(painter: DigitPainter, size: int) -> None:
    pixels = read_png(painter.draw("draw a 5", seed=0, size=size))
    assert pixels.shape == (size, size)
    assert pixels.min() < 64 and pixels.max() == 255  # dark ink on white paper


def test_sizes_out_of_range_are_refused(painter: DigitPainter) -> None:
    for size in (0, 7, 4096):
        with pytest.raises(ValueError, match="outside"):
            painter.draw("2", size=size)


def test_the_same_seed_draws_the_same_image(painter: DigitPainter) -> None:
    assert painter.draw("a 4", seed=11) == painter.draw("a 4", seed=11)
    assert painter.draw("a 4", seed=11) != painter.draw("a 4", seed=12)


def test_the_prompt_decides_the_digit(painter: DigitPainter) -> None:
    drawing = painter.draw_with_info("draw the number eight", seed=5, size=32)
    got = (drawing.digit, drawing.digit_from_prompt, drawing.seed, drawing.size)
    assert got == (8, True, 5, 32)


def test_without_a_digit_the_seed_picks_one(painter: DigitPainter) -> None:
    drawings = [painter.draw_with_info("something nice", seed=s, size=16) for s in range(30)]
    assert not any(d.digit_from_prompt for d in drawings)
    assert len({d.digit for d in drawings}) >= 5
    again = painter.draw_with_info("something else", seed=3, size=16)
    assert again.digit == drawings[3].digit
    # The seed's strokes do not depend on where the digit came from.
    assert painter.draw(f"a {again.digit}", seed=3, size=16) == again.png


def test_no_seed_reports_the_seed_it_used(painter: DigitPainter) -> None:
    drawing = painter.draw_with_info("a 1", size=24)
    assert painter.draw("a 1", seed=drawing.seed, size=24) == drawing.png


def test_ink_rejects_a_non_digit(painter: DigitPainter) -> None:
    with pytest.raises(ValueError, match="0-9"):
        painter.ink(10, np.zeros(painter.latent))


def test_samples_look_like_the_requested_digit(painter: DigitPainter) -> None:
    """Samples lie nearer the real mean image of their own digit than of any
    other: the decoder learned the classes, not noise or one blob."""
    datasets = pytest.importorskip("sklearn.datasets")
    real = datasets.load_digits()
    means = np.stack([real.data[real.target == d].mean(axis=0) / 16 for d in range(10)])
    rng = np.random.default_rng(0)
    hits = 0
    for digit in range(10):
        for _ in range(10):
            ink = painter.ink(digit, rng.standard_normal(painter.latent) * painter.sample_scale)
            hits += int(np.argmin(((means - ink.reshape(1, 64)) ** 2).sum(axis=1)) == digit)
    assert hits >= 90


def test_decoder_is_trained(painter: DigitPainter) -> None:
    """Without sklearn: the shipped training record, and distinct digits."""
    assert painter.info["sample_accuracy"] >= 0.9
    inks = np.stack([painter.ink(d, np.zeros(painter.latent)).ravel() for d in range(10)])
    distances = ((inks[:, None] - inks[None]) ** 2).sum(axis=-1)
    assert distances[~np.eye(10, dtype=bool)].min() > 1.0
