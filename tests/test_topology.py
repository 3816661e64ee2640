"""Presets and topology files: every mistake is reported before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from genweave import TopologyError
from genweave.topology import caller_waves, load_topology, preset, resolve_topology
from sample_app import app


def groups(topology: object) -> dict[str, tuple[str, ...]]:
    return {g.name: g.components for g in topology.groups}  # type: ignore[attr-defined]


def test_presets() -> None:
    assert groups(preset("monolith", app)) == {"main": ("Front", "Model", "Store")}
    assert groups(preset("microservices", app)) == {
        "front": ("Front",), "model": ("Model",), "store": ("Store",)}
    assert groups(preset("hybrid", app)) == {"core": ("Front", "Store"), "model": ("Model",)}


def test_unknown_preset_suggests_the_closest() -> None:
    with pytest.raises(TopologyError, match="unknown topology preset 'micro-services' "
                                            r"\(did you mean 'microservices'\?\)"):
        resolve_topology("micro-services", app)


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


def test_callers_stop_before_callees() -> None:
    assert caller_waves(app, preset("microservices", app)) == [["front"], ["store"], ["model"]]
    assert caller_waves(app, preset("hybrid", app)) == [["core"], ["model"]]
    assert caller_waves(app, preset("monolith", app)) == [["main"]]


def test_component_settings_are_validated_and_injected(tmp_path: Path) -> None:
    import msgspec

    from genweave import App, component
    from genweave.topology import component_settings

    class Settings(msgspec.Struct, frozen=True):
        backend: str = "builtin"
        temperature: float = 0.7

    @component(config=Settings)
    class Configured:
        config: Settings

        async def which(self) -> str:
            return self.config.backend

    configured = App("configured", [Configured])
    path = write(tmp_path, 'preset = "monolith"\n[components.Configured]\nbackend = "openai"\n')
    topology = load_topology(path, configured)
    assert topology.name == "monolith"
    assert component_settings(topology, configured, "Configured") == Settings("openai", 0.7)

    for text, message in [
        ("[components.Configured]\ntemperature = \"hot\"",
         r"\[components.Configured\] temperature: Expected `float`, got `str`"),
        ("[components.Configurd]\nbackend = \"x\"",
         r"component 'Configurd' is not defined \(did you mean 'Configured'\?\)"),
        ('preset = "monolith"\n[groups.a]\ncomponents = ["Configured"]',
         "preset .monolith. has no group .a."),
    ]:
        bad = write(tmp_path, ('preset = "monolith"\n' if "preset" not in text else "") + text)
        with pytest.raises(TopologyError, match=message):
            load_topology(bad, configured)

    settings_file = write(tmp_path, '[components.Configured]\nbackend = "transformers"\n')
    chosen = resolve_topology("microservices", configured, config=settings_file)
    assert chosen.name == "microservices" and chosen.settings["Configured"]["backend"]


async def test_configured_component_sees_its_settings(tmp_path: Path) -> None:
    from genweave import deploy

    path = write(tmp_path, '[components.Model]\n')
    with pytest.raises(TopologyError, match="component 'Model' takes no settings"):
        resolve_topology(None, app, config=path)
    async with deploy(app, "monolith", "inprocess") as running:
        assert running.topology.settings == {}


def test_a_preset_is_amended_by_option_only_group_tables(tmp_path: Path) -> None:
    path = write(tmp_path, """
preset = "hybrid"
[groups.model]
replicas = 2
max_in_flight = 16
autoscale = { min = 1, max = 4, target_in_flight = 2, up_delay = 1, down_delay = 5 }
""")
    topology = load_topology(path, app)
    model = topology.group("model")
    assert (model.components, model.replicas, model.max_in_flight) == (("Model",), 2, 16)
    assert model.autoscale is not None and model.autoscale.max == 4
    assert topology.group("core").autoscale is None


@pytest.mark.parametrize(("text", "message"), [
    ('preset = "hybrid"\n[groups.modle]\nreplicas = 2',
     r"preset 'hybrid' has no group 'modle' \(did you mean 'model'\?\); its groups are core"),
    ('preset = "hybrid"\n[groups.model]\ncomponents = ["Model"]',
     r"\[groups.model\] components: a preset places the components"),
    ('[groups.main]\nreplicas = 2', r"\[groups.main\] components: required"),
    ('preset = "hybrid"\n[groups.model]\nautoscale = { min = 3, max = 2 }',
     r"autoscale: min \(3\) is above max \(2\)"),
    ('preset = "hybrid"\n[groups.model]\nreplicas = 5\nautoscale = { max = 2 }',
     r"replicas: 5 is outside autoscale's \[1, 2\]"),
    ('preset = "hybrid"\n[groups.model]\nautoscale = { max = 2, target_in_flight = 0 }',
     r"autoscale.target_in_flight: Expected `float` > 0"),
    ('preset = "hybrid"\n[groups.model]\nmax_in_flight = 0',
     r"max_in_flight: Expected `int` >= 1"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nweight = 60\n[groups.model.variants.c]\n'
     'weight = 50', r"variants: weights add up to more than 100"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nweight = 10\nshadow = true',
     r"variants.b: a shadow variant takes no weight"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nweight = 10\nsample = 5',
     r"variants.b: 'sample' is for shadow variants"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nshadow = true\nsample = 0',
     r"\[groups.model.variants.b\] sample: Expected `float` > 0"),
    ('preset = "hybrid"\n[groups.model.variants.primary]\nweight = 5',
     r"variants.primary: 'primary' names the group's own version"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nsettings.Front = {}',
     r"variants.b settings: 'Front' is not a component of this group"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nsettings.Model = {}',
     r"variants.b settings.Model: component 'Model' takes no settings"),
    ('preset = "hybrid"\n[refs.Modle]\ntimeout = 1', r"\[refs.Modle\]: component 'Modle' is not "
     r"defined \(did you mean 'Model'\?\)"),
    ('preset = "hybrid"\n[refs."Front.modle"]\ntimeout = 1',
     r"no Ref 'Front.modle' \(did you mean 'Front.model'\?\)"),
    ('preset = "hybrid"\n[refs.Model]\ntimeout = -1',
     r"\[refs.Model\] timeout: Expected `float` > 0"),
    ('preset = "hybrid"\n[refs.Model]\ncircuit = { failures = 0 }',
     r"circuit.failures: Expected `int` >= 1"),
    ('preset = "hybrid"\n[refs.Model]\nbulkhead = 2\nretry = 3', r"retry: unknown key"),
    ('preset = "hybrid"\n[refs.Model.fallback]\ncomponent = "Store"',
     r"fallback.component: 'Store' has no method 'add' with the shape of Model.add"),
    ('preset = "hybrid"\n[refs.Model.fallback]\nvalues = { ad = 1 }',
     r"fallback.values.ad: Model has no method 'ad' \(did you mean 'add'\?\)"),
    ('preset = "hybrid"\n[refs.Model.fallback]\nvalues = { add = "one" }',
     r"fallback.values.add: Expected `int`, got `str`"),
    ('preset = "hybrid"\n[refs.Model.fallback]\nvalues = { count = 3 }',
     r"fallback.values.count: Expected `array`, got `int`"),
])
def test_group_options_and_ref_policies_are_validated(tmp_path: Path, text: str,
                                                       message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        load_topology(write(tmp_path, text), app)


def test_a_config_that_amends_the_chosen_preset_keeps_its_group_options(tmp_path: Path) -> None:
    path = write(tmp_path, 'preset = "hybrid"\n[groups.model]\nreplicas = 3\n')
    assert resolve_topology("hybrid", app, config=path).group("model").replicas == 3
    assert resolve_topology(None, app, config=path).group("model").replicas == 3
    other = resolve_topology("microservices", app, config=path)  # another preset: its groups
    assert other.group("model").replicas == 1 and other.name == "microservices"


def test_ref_policies_and_variants_are_read(tmp_path: Path) -> None:
    from genweave.resilience import policy_for

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
