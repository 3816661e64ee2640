"""Validation against the app: group options, variants, settings and Ref policies."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from sample_app import app

from genweave import TopologyError
from genweave.topology import Group, Resources, Topology, load_topology, preset, validate


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genweave.toml"
    path.write_text(text)
    return path


def test_a_valid_topology_is_returned_unchanged() -> None:
    topology = preset("hybrid", app)
    assert validate(topology, app, source="here") is topology


def test_errors_name_the_source_they_were_given() -> None:
    empty = Topology("empty", ())
    with pytest.raises(TopologyError, match="^rollout of group 'x': no groups defined$"):
        validate(empty, app, source="rollout of group 'x'")
    flagged = msgspec.structs.replace(preset("monolith", app), groups=(
        Group("main", ("Front", "Model", "Store"), replicas=True),))  # a bool is no count
    with pytest.raises(TopologyError, match=r"^src, \[groups.main\]: replicas must be"):
        validate(flagged, app, source="src")


@pytest.mark.parametrize(("text", "message"), [
    ('preset = "hybrid"\n[groups.model]\nautoscale = { min = 3, max = 2 }',
     r"autoscale: min \(3\) is above max \(2\)"),
    ('preset = "hybrid"\n[groups.model]\nreplicas = 5\nautoscale = { max = 2 }',
     r"replicas: 5 is outside autoscale's \[1, 2\]"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nweight = 60\n[groups.model.variants.c]\n'
     'weight = 50', r"variants: weights add up to more than 100"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nweight = 10\nshadow = true',
     r"variants.b: a shadow variant takes no weight"),
    ('preset = "hybrid"\n[groups.model.variants.b]\nweight = 10\nsample = 5',
     r"variants.b: 'sample' is for shadow variants"),
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
    ('preset = "hybrid"\n[refs.Model.fallback]\ncomponent = "Modle"',
     r"fallback.component: 'Modle' is not defined \(did you mean 'Model'\?\)"),
    ('preset = "hybrid"\n[refs.Model.fallback]\ncomponent = "Store"',
     r"fallback.component: 'Store' has no method 'add' with the shape of Model.add"),
    ('preset = "hybrid"\n[refs.Model.fallback]\nvalues = { ad = 1 }',
     r"fallback.values.ad: Model has no method 'ad' \(did you mean 'add'\?\)"),
    ('preset = "hybrid"\n[refs.Model.fallback]\nvalues = { add = "one" }',
     r"fallback.values.add: Expected `int`, got `str`"),
    ('preset = "hybrid"\n[refs.Model.fallback]\nvalues = { count = 3 }',
     r"fallback.values.count: Expected `array`, got `int`"),
    ('[components.Model]\n', r"\[components.Model\]: component 'Model' takes no settings"),
    ('[components.Modle]\n', r"\[components.Modle\]: component 'Modle' is not defined"),
])
def test_group_options_and_ref_policies_are_validated(tmp_path: Path, text: str,
                                                       message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        load_topology(write(tmp_path, text), app)


@pytest.mark.parametrize(("resources", "message"), [
    (Resources(gpus=0.5), r"\[groups.main\] gpus: 0.5 is not a whole number: whole GPUs"),  # type: ignore[arg-type]
    (Resources(gpus=2.0), r"\[groups.main\] gpus: give the count as an integer \(2\)"),  # type: ignore[arg-type]
    (Resources(cpus=-1), r"\[groups.main\] cpus: must be above 0"),
    (Resources(memory="a lot"), r"\[groups.main\] memory: 'a lot' is not a Kubernetes quantity"),
])
def test_resources_built_in_code_are_checked_too(resources: Resources, message: str) -> None:
    topology = Topology("t", (Group("main", ("Front", "Model", "Store"), resources=resources),))
    with pytest.raises(TopologyError, match=message):
        validate(topology, app, source="code")
