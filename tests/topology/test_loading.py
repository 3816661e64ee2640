"""Topology files and choosing a topology: every mistake in a file names the file, key, reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_app import app

from genweave import TopologyError
from genweave.resilience import policy_for
from genweave.topology import Topology, load_topology, resolve_topology


def groups(topology: Topology) -> dict[str, tuple[str, ...]]:
    return {g.name: g.components for g in topology.groups}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genweave.toml"
    path.write_text(text)
    return path


def test_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
transport = "tcp"
[groups.core]
components = ["Front", "Store"]
[groups.inference]
components = ["Model"]
replicas = 3
version = "2"
""")
    topology = load_topology(path, app)
    assert topology.name == "genweave"  # a file that defines its groups is named after it
    assert topology.transport == "tcp"
    assert groups(topology) == {"core": ("Front", "Store"), "inference": ("Model",)}
    assert topology.group("inference").replicas == 3
    assert topology.group_of("Model").version == "2"


@pytest.mark.parametrize(("text", "message"), [
    ('[groups.core]\ncomponents = ["Front", "Store", "Modle"]',
     r"\[groups.core\]: component 'Modle' is not defined \(did you mean 'Model'\?\)"),
    ('[groups.a]\ncomponents = ["Front", "Store", "Model"]\n[groups.b]\ncomponents = ["Model"]',
     r"\[groups.b\]: component 'Model' is already in \[groups.a\]"),
    ('[groups.a]\ncomponents = ["Front"]',
     r"components 'Model', 'Store' not placed in any group"),
    ('[groups.a]\ncomponents = ["Front", "Store", "Model"]\nreplicas = 0',
     r"\[groups.a\]: replicas must be an integer >= 1, got 0"),
    ('[groups.a]\ncomponents = ["Front", "Store", "Model"]\nreplicas = "two"',
     r"\[groups.a\] replicas: Expected `int`, got `str`"),
    ('[groups.a]\ncomponents = ["Front", "Store", "Model"]\nreplica = 2',
     r"\[groups.a\] replica: unknown key"),
    ('[groups.A]\ncomponents = ["Front", "Store", "Model"]',
     r"\[groups.A\]: group names use lowercase"),
    ('[groups.a]\ncomponents = []\n[groups.b]\ncomponents = ["Front", "Store", "Model"]',
     r"\[groups.a\]: components is empty"),
    ("[groups.a\ncomponents = 1", "not valid TOML"),
    ('transport = "carrier-pigeon"\n[groups.a]\ncomponents = ["Front", "Store", "Model"]',
     r"transport: Invalid enum value 'carrier-pigeon'"),
    ('max_message_bytes = 10\n[groups.a]\ncomponents = ["Front", "Store", "Model"]',
     r"max_message_bytes: Expected `int` >= 1024"),
])
def test_invalid_files_name_the_file_key_and_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TopologyError, match=message) as caught:
        load_topology(path, app)
    assert str(caught.value).startswith(str(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="cannot read topology file"):
        resolve_topology(str(tmp_path / "nope.toml"), app)


def test_a_file_of_settings_only_means_monolith(tmp_path: Path) -> None:
    topology = load_topology(write(tmp_path, 'transport = "tcp"\n'), app)
    assert topology.name == "monolith" and groups(topology) == {
        "main": ("Front", "Model", "Store")}


def test_a_preset_is_amended_by_option_only_group_tables(tmp_path: Path) -> None:
    path = write(tmp_path, """
preset = "hybrid"
[groups.model]
replicas = 2
max_in_flight = 16
autoscale = { min = 1, max = 4, target_in_flight = 2, up_delay = 1, down_delay = 5 }
[groups.model.variants.small]
weight = 10
""")
    topology = load_topology(path, app)
    model = topology.group("model")
    assert (model.components, model.replicas, model.max_in_flight) == (("Model",), 2, 16)
    assert model.autoscale is not None and model.autoscale.max == 4
    assert [(v.name, v.weight) for v in model.variants] == [("small", 10.0)]
    assert topology.group("core").autoscale is None


@pytest.mark.parametrize(("text", "message"), [
    ('preset = "hybrid"\n[groups.modle]\nreplicas = 2',
     r"preset 'hybrid' has no group 'modle' \(did you mean 'model'\?\); its groups are core"),
    ('preset = "hybrid"\n[groups.model]\ncomponents = ["Model"]',
     r"\[groups.model\] components: a preset places the components"),
    ('[groups.main]\nreplicas = 2', r"\[groups.main\] components: required"),
    ('preset = "hybrid"\n[groups.model]\nautoscale = { max = 2, target_in_flight = 0 }',
     r"autoscale.target_in_flight: Expected `float` > 0"),
    ('preset = "hybrid"\n[groups.model]\nmax_in_flight = 0',
     r"max_in_flight: Expected `int` >= 1"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nshadow = true\nsample = 0',
     r"\[groups.model.variants.b\] sample: Expected `float` > 0"),
    ('preset = "hybrid"\n[refs.Model]\ntimeout = -1',
     r"\[refs.Model\] timeout: Expected `float` > 0"),
    ('preset = "hybrid"\n[refs.Model]\ncircuit = { failures = 0 }',
     r"circuit.failures: Expected `int` >= 1"),
    ('preset = "hybrid"\n[refs.Model]\nbulkhead = 2\nretry = 3', r"retry: unknown key"),
])
def test_group_tables_and_ref_tables_are_read_strictly(tmp_path: Path, text: str,
                                                       message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        load_topology(write(tmp_path, text), app)


def test_a_config_that_amends_the_chosen_preset_keeps_its_group_options(tmp_path: Path) -> None:
    path = write(tmp_path, 'preset = "hybrid"\n[groups.model]\nreplicas = 3\n')
    assert resolve_topology("hybrid", app, config=path).group("model").replicas == 3
    assert resolve_topology(None, app, config=path).group("model").replicas == 3
    other = resolve_topology("microservices", app, config=path)  # another preset: its groups
    assert other.group("model").replicas == 1 and other.name == "microservices"


def test_resolve_takes_a_preset_a_path_or_a_topology(tmp_path: Path) -> None:
    assert resolve_topology(None, app).name == "monolith"
    path = write(tmp_path, 'preset = "microservices"\n')
    assert resolve_topology(path, app).name == "microservices"
    assert resolve_topology(str(path), app).name == "microservices"
    chosen = resolve_topology("hybrid", app)
    assert resolve_topology(chosen, app) is chosen  # validated, returned as is


def test_ref_policies_and_variants_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, """
preset = "microservices"
[refs.Model]
timeout = 2.5
circuit = { failures = 2 }
[refs."Front.model"]
bulkhead = 3
fallback = { values = { add = 0, count = [0, 1] } }
""")
    topology = load_topology(path, app)
    own = policy_for(topology.refs, "Front", "model", "Model")
    shared = policy_for(topology.refs, "Store", "model", "Model")
    assert own is not None and own.bulkhead == 3 and own.fallback is not None
    assert own.fallback.values == {"add": 0, "count": [0, 1]}
    assert shared is not None and shared.timeout == 2.5 and shared.circuit is not None
    assert policy_for(topology.refs, "Front", "store", "Store") is None


def test_group_resources_and_deployment_options(tmp_path: Path) -> None:
    path = write(tmp_path, """
name = "gpu-box"
[groups.core]
components = ["Front", "Store"]
expose = [8000]
[groups.model]
components = ["Model"]
cpus = 0.5
memory = "2Gi"
gpus = 2
extras = ["models"]
[groups.model.variants.b]
weight = 10
""")
    topology = load_topology(path, app)
    assert topology.name == "gpu-box"
    model = topology.group("model")
    assert (model.resources.cpus, model.resources.memory, model.resources.gpus) == (0.5, "2Gi", 2)
    assert model.resources.memory_bytes == 2 * 2**30
    assert model.extras == ("models",)
    assert model.expose is None  # found from the components' settings when exported
    assert topology.group("core").expose == (8000,)
    assert topology.group("core").resources.gpus == 0


def test_a_preset_group_takes_resources_too(tmp_path: Path) -> None:
    path = write(tmp_path, 'preset = "hybrid"\n[groups.model]\ngpus = 1\nmemory = "1Gi"\n')
    model = load_topology(path, app).group("model")
    assert (model.resources.gpus, model.resources.memory) == (1, "1Gi")


@pytest.mark.parametrize(("options", "message"), [
    ("gpus = 0.5", r"\[groups.a\] gpus: 0.5 is not a whole number: whole GPUs only"),
    ("gpus = -1", r"\[groups.a\] gpus: -1 is negative"),
    ('gpus = "one"', r"\[groups.a\] gpus: Expected `float`, got `str`"),
    ("cpus = 0", r"\[groups.a\] cpus: Expected `float` > 0.0"),
    ('memory = "2GB"', r"\[groups.a\] memory: '2GB' is not a Kubernetes quantity "
                       r"\(did you mean '2G'\?\)"),
    ("expose = [0]", r"\[groups.a\] expose\[0\]: Expected `int` >= 1"),
    ("expose = [80, 80]", r"\[groups.a\] expose: a port is listed twice"),
    ('extras = ["models;rm"]', r"\[groups.a\] extras\[0\]: Expected `str` matching"),
])
def test_bad_group_resources_name_the_group_and_the_fix(
    tmp_path: Path, options: str, message: str
) -> None:
    path = write(tmp_path, f'[groups.a]\ncomponents = ["Front", "Store", "Model"]\n{options}\n')
    with pytest.raises(TopologyError, match=message):
        load_topology(path, app)
