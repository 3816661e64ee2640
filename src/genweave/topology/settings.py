"""A component's settings under a topology: its ``[components.NAME]`` table, typed.

A component declared with ``config=SomeStruct`` gets that Struct injected; the
host asks here for it, with a variant's keys over the primary's.
"""

from __future__ import annotations

from typing import Any

from genweave.application import App
from genweave.topology._errors import convert
from genweave.topology.model import Topology

__all__ = ["component_settings"]


def component_settings(topology: Topology, app: App, name: str,
                       variant: str | None = None) -> Any:
    """The validated settings object for component ``name`` (defaults where not given).

    With ``variant``, that variant's settings replace the primary's key by key::

        component_settings(topology, app, "Generator", variant="small").backend
    """
    spec = app.components[name]
    if spec.config is None:
        return None
    table = dict(topology.settings.get(name, {}))
    if variant is not None:
        table.update(topology.group_of(name).variant(variant).settings.get(name, {}))
    return convert(table, spec.config, f"[components.{name}] ")
