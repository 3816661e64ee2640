"""Topologies: which components share a process, and how each group runs.

A topology is a preset name (``monolith``, ``microservices``, ``hybrid``) or a
TOML file; the application code never changes with it.  The package reads as
its parts:

- ``model``: ``Topology``, ``Group``, ``Autoscale``, ``Variant``, plain Structs;
- ``presets``: the topologies that need no file;
- ``loading``: the TOML file, and choosing a topology from a name or a path;
- ``rendering``: a topology written back as a TOML file;
- ``resources``: CPUs, memory and GPUs per replica; ``devices``: which GPUs
  each replica gets on one machine;
- ``validation``: checking a topology against an app, naming file, key and reason;
- ``settings``: a component's typed ``[components.NAME]`` settings.

Example::

    topology = resolve_topology("hybrid", app, config="genweave.toml")
    print([g.name for g in topology.groups])
"""

from genweave.topology.devices import GPU_COUNT_ENV, GpuPlan
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
from genweave.topology.rendering import render_toml
from genweave.topology.resources import Resources, memory_bytes, whole_gpus
from genweave.topology.settings import component_settings
from genweave.topology.validation import validate

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "GPU_COUNT_ENV",
    "INFERENCE_ROLE",
    "PRESETS",
    "PRIMARY_VARIANT",
    "Autoscale",
    "GpuPlan",
    "Group",
    "Resources",
    "Topology",
    "Transport",
    "Variant",
    "component_settings",
    "load_topology",
    "memory_bytes",
    "preset",
    "render_toml",
    "resolve_topology",
    "validate",
    "whole_gpus",
]
