"""The reference app deployed for tests: a private data directory, a free port, no corpus,
and the app's own Ref policies (``genweave/app/genweave.toml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from genweave.app import app
from genweave.app.__main__ import DEFAULT_CONFIG
from genweave.topology import Topology, resolve_topology


def app_topology(preset: str, data_dir: Path, **gateway: Any) -> Topology:
    """``preset`` with settings that keep a test hermetic and quick."""
    store = {"data_dir": str(data_dir)}
    settings = {
        "Gateway": {"port": 0, **gateway},
        "Ingestor": {**store, "ingest_corpus_on_start": False},
        "Retriever": store,
    }
    topology = resolve_topology(preset, app, config=DEFAULT_CONFIG)
    return msgspec.structs.replace(topology, settings=settings)
