"""Presets: the topologies that need no file."""

from __future__ import annotations

import pytest
from sample_app import app

from genweave import App, TopologyError, component
from genweave.topology import INFERENCE_ROLE, PRESETS, Topology, preset


def groups(topology: Topology) -> dict[str, tuple[str, ...]]:
    return {g.name: g.components for g in topology.groups}


def test_presets() -> None:
    assert groups(preset("monolith", app)) == {"main": ("Front", "Model", "Store")}
    assert groups(preset("microservices", app)) == {
        "front": ("Front",), "model": ("Model",), "store": ("Store",)}
    assert groups(preset("hybrid", app)) == {"core": ("Front", "Store"), "model": ("Model",)}


def test_every_preset_is_named_after_itself() -> None:
    assert [preset(name, app).name for name in PRESETS] == list(PRESETS)


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(TopologyError, match="unknown topology preset 'micro-services' "
                                            r"\(did you mean 'microservices'\?\)"):
        preset("micro-services", app)


def test_group_names_split_camel_case_and_hybrid_of_only_models_has_no_core() -> None:
    @component(role=INFERENCE_ROLE)
    class PostProcessor:
        async def run(self) -> None:
            pass

    models = App("models", [PostProcessor])
    assert groups(preset("microservices", models)) == {"post-processor": ("PostProcessor",)}
    assert groups(preset("hybrid", models)) == {"post-processor": ("PostProcessor",)}
