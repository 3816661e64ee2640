"""A group's ``ray_resources``: custom Ray resources per replica, loaded, checked and written
back; a mistake names the file, the group and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_app import app

from genweave import TopologyError
from genweave.topology import load_topology
from genweave.topology.rendering import render_toml

GROUPS = """
[groups.core]
components = ["Front", "Store"]
[groups.inference]
components = ["Model"]
"""


def write(tmp_path: Path, inference: str) -> Path:
    path = tmp_path / "genweave.toml"
    path.write_text(GROUPS + inference)
    return path


def test_custom_resources_load_and_are_written_back(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, "ray_resources = {gpu_node = 1, zone_a = 0.5}\n"),
                             app)
    assert topology.group("inference").ray_resources == {"gpu_node": 1.0, "zone_a": 0.5}
    assert topology.group("core").ray_resources == {}
    rendered = render_toml(topology)
    assert rendered.count("ray_resources") == 1
    again = tmp_path / "written.toml"
    again.write_text(rendered)
    assert load_topology(again, app).group("inference").ray_resources == {
        "gpu_node": 1.0, "zone_a": 0.5}


@pytest.mark.parametrize(("table", "message"), [
    ("{CPU = 1}", "'CPU' is Ray's own; declare cpus, gpus and memory on the group instead"),
    ("{gpu_node = 0}", "gpu_node = 0.0; expected a positive number"),
    ("{gpu_node = -2}", "gpu_node = -2.0; expected a positive number"),
])
def test_what_ray_cannot_take_is_refused_naming_the_group(
    tmp_path: Path, table: str, message: str,
) -> None:
    with pytest.raises(TopologyError, match=r"\[groups.inference\] ray_resources: " + message):
        load_topology(write(tmp_path, f"ray_resources = {table}\n"), app)
