"""What one replica of a group needs from its machine: CPUs, memory and whole GPUs.

A group declares them in its table; Kubernetes turns them into requests and
limits, Ray into actor resources, and the local deployer hands out GPUs (it
cannot enforce CPUs or memory on processes it does not isolate)::

    [groups.generator]
    components = ["Generator"]
    cpus = 2           # CPUs per replica; fractions allowed (0.5)
    memory = "4Gi"     # a Kubernetes quantity: Ki Mi Gi Ti (powers of 1024) or k M G T
    gpus = 1           # whole devices per replica

Memory is kept as written (a Kubernetes manifest shows it verbatim) and
``memory_bytes`` gives its value for engines that count bytes.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Final

import msgspec

__all__ = ["RAY_RESERVED", "Resources", "memory_bytes", "ray_resource_problem", "whole_gpus"]

_QUANTITY: Final = re.compile(
    r"^(?P<number>\d+(?:\.\d*)?|\.\d+)(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)"
    r"|[eE](?P<exponent>[+-]?\d+))?$")
_MULTIPLIERS: Final = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_MISTAKES: Final = {"m": "Mi", "MB": "M", "GB": "G", "KB": "k", "Kb": "Ki", "K": "k", "Mb": "Mi",
                    "Gb": "Gi", "MiB": "Mi", "GiB": "Gi", "KiB": "Ki"}


class Resources(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """CPUs, memory and GPUs one replica of a group needs; ``None``/0 when not declared.

    Example::

        Resources(cpus=0.5, memory="512Mi", gpus=1).describe()   # "cpus 0.5, memory 512Mi, 1 GPU"
    """

    cpus: float | None = None
    memory: str | None = None
    """A Kubernetes quantity such as ``"512Mi"`` or ``"2Gi"``."""
    gpus: int = 0

    @property
    def memory_bytes(self) -> int | None:
        """The memory in bytes (``"1Ki"`` -> 1024), or ``None`` when not declared."""
        return None if self.memory is None else memory_bytes(self.memory)

    def describe(self) -> str:
        parts = []
        if self.cpus is not None:
            parts.append(f"cpus {self.cpus:g}")
        if self.memory is not None:
            parts.append(f"memory {self.memory}")
        if self.gpus:
            parts.append(f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}")
        return ", ".join(parts)


def memory_bytes(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity, rounded up; ``ValueError`` says what is wrong.

    Example::

        memory_bytes("512Mi")   # 536870912
        memory_bytes("1.5G")    # 1500000000
    """
    match = _QUANTITY.match(quantity.strip())
    if match is None:
        raise ValueError(_quantity_problem(quantity))
    number = Decimal(match["number"])
    if match["exponent"] is not None:
        value = number.scaleb(int(match["exponent"]))
    else:
        value = number * _MULTIPLIERS[match["suffix"] or ""]
    if value <= 0:
        raise ValueError(f"{quantity!r} is not a positive amount of memory")
    return math.ceil(value)


def _quantity_problem(quantity: str) -> str:
    suffix = quantity.strip().lstrip("0123456789.")
    hint = _MISTAKES.get(suffix)
    fix = f" (did you mean '{quantity.strip()[:-len(suffix)]}{hint}'?)" if hint else ""
    return (f"{quantity!r} is not a Kubernetes quantity{fix}; write a number with one of the "
            "suffixes Ki, Mi, Gi, Ti (powers of 1024) or k, M, G, T (powers of 1000)")


def whole_gpus(count: float) -> int:
    """A GPU count as an integer; ``ValueError`` for a fraction or a negative count.

    A process gets entire devices (``CUDA_VISIBLE_DEVICES``, ``nvidia.com/gpu``),
    so ``gpus = 0.5`` cannot be honoured; components that should share one GPU
    belong in one group.

    Example::

        whole_gpus(2.0)   # 2
    """
    if isinstance(count, bool) or not isinstance(count, int | float) or not math.isfinite(count):
        raise ValueError(f"expected a whole number of GPUs, got {count!r}")
    if count != int(count):
        raise ValueError(f"{count:g} is not a whole number: whole GPUs only (a replica gets "
                         "entire devices; put components that should share a GPU in one group)")
    if count < 0:
        raise ValueError(f"{count:g} is negative; use 0 or more GPUs")
    return int(count)


RAY_RESERVED: Final = frozenset({"CPU", "GPU", "memory", "object_store_memory"})
"""Ray's own resource names: a group declares them as ``cpus``, ``gpus`` and ``memory``."""


def ray_resource_problem(name: str, amount: object) -> str | None:
    """What is wrong with a custom Ray resource ``name = amount``, or ``None``.

    Example::

        ray_resource_problem("gpu_node", 1)   # None
        ray_resource_problem("CPU", 1)        # "'CPU' is Ray's own; declare cpus, ..."
    """
    if name in RAY_RESERVED:
        return f"'{name}' is Ray's own; declare cpus, gpus and memory on the group instead"
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not (
            math.isfinite(amount) and amount > 0):
        return f"{name} = {amount!r}; expected a positive number, e.g. 1"
    return None
