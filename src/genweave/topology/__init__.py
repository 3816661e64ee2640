"""Topologies: which components share a process, and how each group runs.

A topology is a preset name (``monolith``, ``microservices``, ``hybrid``) or a
TOML file; the application code never changes with it.  The package reads as
its parts:

- ``model``: ``Topology``, ``Group``, ``Autoscale``, ``Variant``, plain Structs;
- ``presets``: the topologies that need no file;
- ``loading``: the TOML file, and choosing a topology from a name or a path;
- ``validation``: checking a topology against an app, naming file, key and reason;
- ``settings``: a component's typed ``[components.NAME]`` settings.

Example::

    topology = resolve_topology("hybrid", app, config="genweave.toml")
    print([g.name for g in topology.groups])
"""

from genweave.topology.loading import load_topology, resolve_topology
from genweave.topology.model import (
    DEFAULT_MAX_IN_FLIGHT,
    PRIMARY_VARIANT,
    Autoscale,
    Group,
    Topology,
    Transport,
    Variant,
)
from genweave.topology.presets import INFERENCE_ROLE, PRESETS, preset
from genweave.topology.settings import component_settings
from genweave.topology.validation import validate

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "INFERENCE_ROLE",
    "PRESETS",
    "PRIMARY_VARIANT",
    "Autoscale",
    "Group",
    "Topology",
    "Transport",
    "Variant",
    "component_settings",
    "load_topology",
    "preset",
    "resolve_topology",
    "validate",
]
