"""A topology written as TOML loads back to an equal topology, from presets and from files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_app import app

from genweave import TopologyError
from genweave.topology import PRESETS, Topology, load_topology, preset, render_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def round_trip(topology: Topology, tmp_path: Path, app_: object = app) -> Topology:
    path = tmp_path / "written.toml"
    path.write_text(render_toml(topology))
    return load_topology(path, app_)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_round_trips(name: str, tmp_path: Path) -> None:
    topology = preset(name, app)
    assert round_trip(topology, tmp_path) == topology


def test_every_option_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "full.toml"
    source.write_text("""
transport = "tcp"
max_message_bytes = 2048
[groups.core]
components = ["Front", "Store"]
version = "3"
expose = [8000, 9000]
[groups.model]
components = ["Model"]
replicas = 2
max_in_flight = 8
autoscale = { min = 1, max = 4, target_in_flight = 2.5, up_delay = 1, down_delay = 10 }
cpus = 0.5
memory = "512Mi"
gpus = 1
extras = ["models"]
[groups.model.variants.small]
weight = 10
replicas = 2
[groups.model.variants.shadowed]
shadow = true
sample = 20
[refs.Model]
timeout = 2.0
retries = 1
circuit = { failures = 3 }
fallback = { values = { echo = "down" } }
""")
    topology = load_topology(source, app)
    assert topology.name == "full"
    assert round_trip(topology, tmp_path) == topology


def test_the_reference_apps_operations_file_round_trips(tmp_path: Path) -> None:
    from genweave.app import app as reference

    topology = load_topology(EXAMPLES / "operations.toml", reference)
    assert round_trip(topology, tmp_path, reference) == topology


def test_a_setting_toml_cannot_hold_is_a_topology_error() -> None:
    topology = Topology("t", preset("monolith", app).groups, settings={"Model": {"x": None}})
    with pytest.raises(TopologyError, match="topology 't' cannot be written as TOML"):
        render_toml(topology)
