"""Group resources: memory quantities in bytes, whole GPUs, and how they read in a summary."""

from __future__ import annotations

import pytest

from genweave.topology import Resources, memory_bytes, whole_gpus


@pytest.mark.parametrize(("quantity", "expected"), [
    ("512Mi", 512 * 2**20),
    ("2Gi", 2 * 2**30),
    ("1Ki", 1024),
    ("1.5G", 1_500_000_000),
    ("128974848", 128974848),
    ("129e6", 129_000_000),
    ("0.5Ki", 512),
    ("1.0001k", 1001),  # rounded up to whole bytes
])
def test_memory_quantities_are_counted_in_bytes(quantity: str, expected: int) -> None:
    assert memory_bytes(quantity) == expected


@pytest.mark.parametrize(("quantity", "message"), [
    ("512MB", r"not a Kubernetes quantity \(did you mean '512M'\?\)"),
    ("512m", r"did you mean '512Mi'\?"),
    ("2GiB", r"did you mean '2Gi'\?"),
    ("lots", "not a Kubernetes quantity; write a number with one of the suffixes"),
    ("-1Gi", "not a Kubernetes quantity"),
    ("0", "not a positive amount of memory"),
])
def test_a_bad_quantity_says_what_to_write(quantity: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        memory_bytes(quantity)


def test_gpus_are_whole_devices() -> None:
    assert whole_gpus(2) == 2
    assert whole_gpus(1.0) == 1
    with pytest.raises(ValueError, match="0.5 is not a whole number: whole GPUs only"):
        whole_gpus(0.5)
    with pytest.raises(ValueError, match="negative"):
        whole_gpus(-1)
    with pytest.raises(ValueError, match="expected a whole number of GPUs"):
        whole_gpus(True)


def test_resources_describe_what_was_declared() -> None:
    assert Resources(cpus=0.5, memory="512Mi", gpus=1).describe() == \
        "cpus 0.5, memory 512Mi, 1 GPU"
    assert Resources(gpus=2).describe() == "2 GPUs"
    assert Resources().describe() == ""
    assert Resources(memory="1Ki").memory_bytes == 1024
    assert Resources().memory_bytes is None
