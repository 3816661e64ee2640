"""In which order a deployer starts and stops groups: callers before the groups they call.

Stopping wave by wave lets in-flight calls finish while their callees still
serve; starting in reverse lets ``on_start`` hooks use their Refs.
"""

from __future__ import annotations

import graphlib

from genweave.application import App
from genweave.topology import Topology

__all__ = ["caller_waves", "start_order"]


def caller_waves(app: App, topology: Topology) -> list[list[str]]:
    """Group names in waves, callers before the groups they call.

    A cycle between groups puts them all in one wave::

        caller_waves(app, preset("hybrid", app))   # [["core"], ["generator", ...]]
    """
    where = {name: topology.group_of(name).name for name in app.components}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
        {g.name: set() for g in topology.groups}
    )
    for caller, callees in app.dependencies().items():
        for callee in callees:
            if where[callee] != where[caller]:
                sorter.add(where[callee], where[caller])
    try:
        sorter.prepare()
    except graphlib.CycleError:
        return [[g.name for g in topology.groups]]
    waves = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        waves.append(ready)
        sorter.done(*ready)
    return waves


def start_order(app: App, topology: Topology) -> list[str]:
    """Group names, callees first: the reverse of the stopping waves."""
    return [group for wave in reversed(caller_waves(app, topology)) for group in wave]
