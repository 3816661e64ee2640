"""Which groups may open connections to which: least privilege read from the code.

A component calls another only through a Ref it declares, so the Ref graph,
placed on the topology's groups, says which groups ever connect to a group:

- a group that hosts a component with a Ref to one of another group's
  components (calls inside a group are direct, never over the network);
- a group whose callers have a fallback component for a Ref (``[refs.X]
  fallback = { component = "Spare" }``) calls the spare's group too;
- a group hosting a component that declares ``runtime: Runtime`` collects
  status and metrics from every replica (the gateway's ``/metrics`` and
  live view), so it may reach every group, its own other replicas included.

Variants are pods of their group, so they are covered both ways.  The rule is
pure (app and topology in, a mapping out): NetworkPolicies are built from it,
and anything else that enforces the graph (mutual TLS) can share it.
"""

from __future__ import annotations

from genweave.application import App
from genweave.component import injected_annotations
from genweave.runtime.introspect import Runtime
from genweave.topology import Topology

__all__ = ["allowed_callers"]


def allowed_callers(app: App, topology: Topology) -> dict[str, tuple[str, ...]]:
    """Group name -> the groups that may call it over the network, sorted.

    Example::

        allowed_callers(app, preset("microservices", app))["greeter"]   # ("frontend",)
    """
    calls = app.dependencies()
    for key, policy in topology.refs.items():
        if policy.fallback is None or policy.fallback.component is None:
            continue
        for caller in _callers_of_ref(app, key):
            calls[caller].add(policy.fallback.component)
    group_of = {name: topology.group_of(name).name for name in app.components}
    callers: dict[str, set[str]] = {g.name: set() for g in topology.groups}
    for caller, targets in calls.items():
        for target in targets:
            if group_of[target] != group_of[caller]:
                callers[group_of[target]].add(group_of[caller])
    for name, spec in app.components.items():
        if _declares_runtime(spec.cls, name):
            for group in callers.values():
                group.add(group_of[name])
    return {group: tuple(sorted(names)) for group, names in callers.items()}


def _callers_of_ref(app: App, key: str) -> list[str]:
    """The components whose calls a ``[refs.KEY]`` policy covers (``Target`` or ``Caller.ref``)."""
    caller, dot, _ = key.partition(".")
    if dot:
        return [caller]
    return [name for name, spec in app.components.items()
            if any(app.spec(target).name == key for target in spec.refs.values())]


def _declares_runtime(cls: type, name: str) -> bool:
    return any(isinstance(hint, type) and issubclass(hint, Runtime)
               for hint in injected_annotations(cls, name).values())
