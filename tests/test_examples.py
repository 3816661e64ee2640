"""The example topology files stay valid for the reference app they configure."""

from __future__ import annotations

from pathlib import Path

import pytest

from genweave.app import app
from genweave.topology import load_topology

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_topology_file_is_valid(path: Path) -> None:
    topology = load_topology(path, app)
    assert topology.groups
