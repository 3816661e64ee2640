"""Component settings: validated against the component's config type, injected typed."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from sample_app import app

from genweave import App, TopologyError, component, deploy
from genweave.topology import Variant, component_settings, load_topology, resolve_topology


class Settings(msgspec.Struct, frozen=True):
    backend: str = "builtin"
    temperature: float = 0.7


@component(config=Settings)
class Configured:
    config: Settings

    async def which(self) -> str:
        return self.config.backend


configured = App("configured", [Configured])


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genweave.toml"
    path.write_text(text)
    return path


def test_component_settings_are_validated_and_injected(tmp_path: Path) -> None:
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


def test_defaults_apply_and_a_variant_replaces_keys_one_by_one(tmp_path: Path) -> None:
    path = write(tmp_path, 'preset = "monolith"\n[components.Configured]\ntemperature = 0.1\n'
                 '[groups.main.variants.hot]\nweight = 5\n'
                 'settings.Configured = { temperature = 1.5 }\n')
    topology = load_topology(path, configured)
    assert topology.group("main").variants[0] == Variant(
        "hot", weight=5, settings={"Configured": {"temperature": 1.5}})
    assert component_settings(topology, configured, "Configured") == Settings("builtin", 0.1)
    assert component_settings(topology, configured, "Configured", "hot") == Settings(
        "builtin", 1.5)
    assert component_settings(resolve_topology(None, configured), configured,
                              "Configured") == Settings()


def test_a_component_without_config_has_no_settings() -> None:
    assert component_settings(resolve_topology("hybrid", app), app, "Model") is None


async def test_configured_component_sees_its_settings(tmp_path: Path) -> None:
    path = write(tmp_path, '[components.Model]\n')
    with pytest.raises(TopologyError, match="component 'Model' takes no settings"):
        resolve_topology(None, app, config=path)
    async with deploy(app, "monolith", "inprocess") as running:
        assert running.topology.settings == {}
    settings_file = write(tmp_path, '[components.Configured]\nbackend = "openai"\n')
    topology = resolve_topology(None, configured, config=settings_file)
    async with deploy(configured, topology, "inprocess") as running:
        assert await running.get(Configured).which() == "openai"
