"""The public API is exactly what ``genweave.__all__`` lists."""

from __future__ import annotations

import genweave


def test_all_is_sorted_and_complete() -> None:
    exported = genweave.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(genweave, name), name
    public = {n for n in vars(genweave) if not n.startswith("_")}
    # Submodules appear as attributes once imported; ``component`` and ``deploy`` are
    # the exported functions that share their module's name.
    modules = {"application", "codec", "context", "errors", "observe", "resilience",
               "runtime", "topology", "transport", "models", "cli"}
    assert public - modules == set(exported)
