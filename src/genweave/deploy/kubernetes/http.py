"""Which groups serve HTTP to the outside, on which ports: a rule for any app.

The framework cannot know an app's gateway by name, and it never imports the
app's code to find it.  It reads what the app already declares:

- a group table's ``expose = [8000, ...]`` says it, and ``expose = []`` turns it off;
- otherwise a component whose settings (``@component(config=...)``) have an
  integer ``port`` field serves HTTP on that port, the value from the
  topology's ``[components.NAME]`` table or the field's default (0, "any
  free port", exposes nothing).

So the reference app's ``Gateway`` (``port = 8000`` in its settings) is found
with no change to it, under every preset.  Inside a pod, loopback is
unreachable from a Service, so such a component's ``host`` setting, when it
names loopback, is set to ``0.0.0.0`` in the exported topology (the ConfigMap
shows it).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from genweave.application import App
from genweave.deploy.kubernetes.command import PROBE_PORT, RPC_PORT
from genweave.deploy.kubernetes.names import ExportError
from genweave.topology import Topology, component_settings

__all__ = ["ALL_INTERFACES", "HOST_SETTING", "PORT_SETTING", "http_ports", "listening_everywhere"]

PORT_SETTING: Final = "port"
HOST_SETTING: Final = "host"
ALL_INTERFACES: Final = "0.0.0.0"
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


def http_ports(app: App, topology: Topology) -> dict[str, tuple[int, ...]]:
    """Group name -> the HTTP ports it serves to the outside, for groups that serve any.

    Example::

        http_ports(app, preset("hybrid", app))   # {"core": (8000,)} for the reference app
    """
    exposed: dict[str, tuple[int, ...]] = {}
    for group in topology.groups:
        if group.expose is not None:
            ports = group.expose
        else:
            found = (_port_of(app, topology, name) for name in group.components)
            ports = tuple(sorted({port for port in found if port}))
        for port in ports:
            if port in (RPC_PORT, PROBE_PORT):
                raise ExportError(
                    f"group '{group.name}' serves HTTP on port {port}, which every pod uses "
                    f"for genweave itself ({RPC_PORT}: calls, {PROBE_PORT}: probes); "
                    "choose another port")
        if ports:
            exposed[group.name] = ports
    return exposed


def listening_everywhere(app: App, topology: Topology) -> Topology:
    """``topology`` with each HTTP-serving component's loopback ``host`` set to all interfaces."""
    exposed = http_ports(app, topology)
    settings = dict(topology.settings)
    for group, ports in exposed.items():
        for name in topology.group(group).components:
            current = component_settings(topology, app, name)
            if (_port_of(app, topology, name) in ports
                    and getattr(current, HOST_SETTING, None) in _LOOPBACK):
                settings[name] = {**settings.get(name, {}), HOST_SETTING: ALL_INTERFACES}
    return msgspec.structs.replace(topology, settings=settings)


def _port_of(app: App, topology: Topology, name: str) -> int | None:
    current: Any = component_settings(topology, app, name)
    port = getattr(current, PORT_SETTING, None)
    if isinstance(port, bool) or not isinstance(port, int) or port <= 0:
        return None
    return port
