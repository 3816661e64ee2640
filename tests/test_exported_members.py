"""The public API is exactly what ``genweave.__all__`` lists."""

from __future__ import annotations

import inspect

import genweave


def test_all_is_sorted_and_complete() -> None:
    exported = genweave.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(genweave, name), name
    # Submodules become attributes once imported; everything else public is exported.
    public = {n for n, v in vars(genweave).items()
              if not n.startswith("_") and not inspect.ismodule(v)}
    assert public == set(exported)
