"""A topology written back as a TOML file that loads to an equal topology.

A deployment that starts workers elsewhere (a Kubernetes ConfigMap, a file on
a VM) hands them the topology as a file.  Whatever it came from (a preset, a
file amending a preset, a rollout), the file spells every group out, so what
a worker loads is exactly what was exported: ``load_topology`` of the text is
equal to the ``Topology`` it was rendered from.

Example::

    Path("topology.toml").write_text(render_toml(preset("hybrid", app)))
"""

from __future__ import annotations

from typing import Any

import msgspec
import tomli_w

from genweave.errors import TopologyError
from genweave.topology.model import DEFAULT_MAX_IN_FLIGHT, Group, Topology, Variant

__all__ = ["render_toml"]


def render_toml(topology: Topology) -> str:
    """The TOML text of ``topology``: its name, transport, groups, settings and Ref policies."""
    document: dict[str, Any] = {
        "name": topology.name,
        "transport": topology.transport,
        "max_message_bytes": topology.max_message_bytes,
        "groups": {g.name: _group_table(g) for g in topology.groups},
    }
    if topology.settings:
        document["components"] = topology.settings
    if topology.refs:
        document["refs"] = {key: msgspec.to_builtins(policy)
                            for key, policy in topology.refs.items()}
    try:
        return tomli_w.dumps(document)
    except TypeError as exc:
        raise TopologyError(f"topology '{topology.name}' cannot be written as TOML ({exc}); "
                            "settings must be TOML values (no null)") from None


def _group_table(group: Group) -> dict[str, Any]:
    table: dict[str, Any] = {
        "components": list(group.components),
        "replicas": group.replicas,
        "version": group.version,
    }
    if group.max_in_flight != DEFAULT_MAX_IN_FLIGHT:
        table["max_in_flight"] = group.max_in_flight
    if group.autoscale is not None:
        table["autoscale"] = msgspec.to_builtins(group.autoscale)
    resources = group.resources
    if resources.cpus is not None:
        table["cpus"] = resources.cpus
    if resources.memory is not None:
        table["memory"] = resources.memory
    if resources.gpus:
        table["gpus"] = resources.gpus
    if group.expose is not None:
        table["expose"] = list(group.expose)
    if group.extras:
        table["extras"] = list(group.extras)
    if group.addresses:
        table["addresses"] = list(group.addresses)
    if group.ray_resources:
        table["ray_resources"] = dict(group.ray_resources)
    if group.variants:
        table["variants"] = {v.name: _variant_table(v) for v in group.variants}
    return table


def _variant_table(variant: Variant) -> dict[str, Any]:
    table: dict[str, Any] = {"replicas": variant.replicas, "weight": variant.weight}
    if variant.shadow:
        table["shadow"] = True
        table["sample"] = variant.sample
    if variant.settings:
        table["settings"] = variant.settings
    return table
