"""Checking a topology against an app, before anything starts.

Every component placed exactly once, group names and options that make sense,
``[components.NAME]`` settings that fit each component's ``config`` type, Ref
policies naming real components and fallbacks of the right shape.  Each
problem names where it is (file, table, key) and, for a misspelt name, the
closest one that exists.
"""

from __future__ import annotations

import re
from typing import Any, Final

from genweave.application import App
from genweave.component import ComponentSpec, spec_of
from genweave.errors import TopologyError
from genweave.resilience import RefPolicy
from genweave.topology._errors import convert, did_you_mean
from genweave.topology.model import PRIMARY_VARIANT, Group, Topology
from genweave.topology.resources import memory_bytes, ray_resource_problem, whole_gpus

__all__ = ["validate"]

_GROUP_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_MAX_PORT: Final = 65535


def validate(topology: Topology, app: App, source: str) -> Topology:
    """Check a topology against an app; return it unchanged when valid.

    ``source`` says where the topology came from (a file, a rollout), so the
    error can point there::

        validate(topology, app, source="genweave.toml")
    """
    if not topology.groups:
        raise TopologyError(f"{source}: no groups defined")
    placed: dict[str, str] = {}
    for group in topology.groups:
        where = f"{source}, [groups.{group.name}]"
        if not _GROUP_NAME.match(group.name):
            raise TopologyError(
                f"{where}: group names use lowercase letters, digits, '-' and '_'"
            )
        if isinstance(group.replicas, bool) or group.replicas < 1:
            raise TopologyError(f"{where}: replicas must be an integer >= 1, got {group.replicas}")
        _validate_group_options(group, app, where)
        if not group.components:
            raise TopologyError(f"{where}: components is empty")
        for name in group.components:
            if name not in app.components:
                raise TopologyError(
                    f"{where}: component '{name}' is not defined"
                    f"{did_you_mean(name, app.components)}"
                )
            if name in placed:
                raise TopologyError(
                    f"{where}: component '{name}' is already in [groups.{placed[name]}]"
                )
            placed[name] = group.name
    _validate_settings(topology, app, source)
    _validate_refs(topology, app, source)
    missing = sorted(set(app.components) - set(placed))
    if missing:
        raise TopologyError(
            f"{source}: component{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} not placed in any group"
        )
    return topology


def _validate_settings(topology: Topology, app: App, source: str) -> None:
    for name, table in topology.settings.items():
        where = f"{source}, [components.{name}]"
        spec = app.components.get(name)
        if spec is None:
            raise TopologyError(
                f"{where}: component '{name}' is not defined{did_you_mean(name, app.components)}"
            )
        if spec.config is None:
            raise TopologyError(f"{where}: component '{name}' takes no settings")
        convert(table, spec.config, f"{where} ")


def _validate_resources(group: Group, where: str) -> None:
    resources = group.resources
    if resources.cpus is not None and not resources.cpus > 0:
        raise TopologyError(f"{where} cpus: must be above 0, got {resources.cpus:g}")
    if resources.memory is not None:
        try:
            memory_bytes(resources.memory)
        except ValueError as exc:
            raise TopologyError(f"{where} memory: {exc}") from None
    try:
        gpus = whole_gpus(resources.gpus)
    except ValueError as exc:
        raise TopologyError(f"{where} gpus: {exc}") from None
    if type(resources.gpus) is not int:
        raise TopologyError(f"{where} gpus: give the count as an integer ({gpus}), "
                            f"not {resources.gpus!r}")
    ports = group.expose or ()
    if any(isinstance(p, bool) or not 1 <= p <= _MAX_PORT for p in ports):
        raise TopologyError(f"{where} expose: ports are numbers from 1 to {_MAX_PORT}, "
                            f"got {list(ports)}")
    if len(set(ports)) != len(ports):
        raise TopologyError(f"{where} expose: a port is listed twice in {list(ports)}")


def _validate_addresses(group: Group, where: str) -> None:
    """Static discovery's addresses: ``tcp:HOST:PORT`` or ``unix:PATH``, each listed once."""
    for address in group.addresses:
        scheme, _, rest = address.partition(":")
        host, _, port = rest.rpartition(":")
        if scheme == "unix" and rest:
            continue
        if scheme != "tcp" or not host or not port.isdigit() or not 1 <= int(port) <= _MAX_PORT:
            raise TopologyError(f"{where} addresses: '{address}' is not an address a replica "
                                "serves at; write 'tcp:HOST:PORT' (e.g. 'tcp:10.0.0.2:7070') "
                                "or 'unix:PATH'")
    if len(set(group.addresses)) != len(group.addresses):
        raise TopologyError(f"{where} addresses: an address is listed twice in "
                            f"{list(group.addresses)}")


def _validate_group_options(group: Group, app: App, where: str) -> None:
    _validate_resources(group, where)
    _validate_addresses(group, where)
    for name, amount in group.ray_resources.items():
        problem = ray_resource_problem(name, amount)
        if problem is not None:
            raise TopologyError(f"{where} ray_resources: {problem}")
    scale = group.autoscale
    if scale is not None and not scale.min <= scale.max:
        raise TopologyError(f"{where} autoscale: min ({scale.min}) is above max ({scale.max})")
    if scale is not None and not scale.min <= group.replicas <= scale.max:
        raise TopologyError(f"{where} replicas: {group.replicas} is outside autoscale's "
                            f"[{scale.min}, {scale.max}]")
    if group.primary_weight < 0:
        raise TopologyError(f"{where} variants: weights add up to more than 100")
    for variant in group.variants:
        at = f"{where} variants.{variant.name}"
        if variant.shadow and variant.weight:
            raise TopologyError(f"{at}: a shadow variant takes no weight (it gets copies; "
                                "'sample' sets the share of calls copied)")
        if variant.sample != 100.0 and not variant.shadow:
            raise TopologyError(f"{at}: 'sample' is for shadow variants; use 'weight'")
        if variant.name == PRIMARY_VARIANT:
            raise TopologyError(f"{at}: '{PRIMARY_VARIANT}' names the group's own version")
        for name, table in variant.settings.items():
            if name not in group.components:
                raise TopologyError(f"{at} settings: '{name}' is not a component of this group")
            config = app.components[name].config
            if config is None:
                raise TopologyError(f"{at} settings.{name}: component '{name}' takes no settings")
            convert(table, config, f"{at} settings.{name} ")


def _validate_refs(topology: Topology, app: App, source: str) -> None:
    for key, policy in topology.refs.items():
        where = f"{source}, [refs.{key}]"
        caller, dot, attribute = key.partition(".")
        if dot:
            spec = app.components.get(caller)
            if spec is None or attribute not in spec.refs:
                known = [f"{n}.{a}" for n, s in app.components.items() for a in s.refs]
                raise TopologyError(f"{where}: no Ref '{key}'{did_you_mean(key, known)}")
            target = spec_of(spec.refs[attribute])
        elif key in app.components:
            target = app.components[key]
        else:
            raise TopologyError(f"{where}: component '{key}' is not defined"
                                f"{did_you_mean(key, app.components)}")
        if policy.fallback is not None:
            _validate_fallback(policy, target, app, where)


def _validate_fallback(policy: RefPolicy, target: ComponentSpec, app: App, where: str) -> None:
    fallback = policy.fallback
    assert fallback is not None
    if fallback.component is not None:
        spare = app.components.get(fallback.component)
        if spare is None:
            raise TopologyError(f"{where} fallback.component: '{fallback.component}' is not "
                                f"defined{did_you_mean(fallback.component, app.components)}")
        for method in target.methods.values():
            other = spare.methods.get(method.name)
            if other is None or other.descriptor() != method.descriptor():
                raise TopologyError(
                    f"{where} fallback.component: '{spare.name}' has no method "
                    f"'{method.name}' with the shape of {method.qualname}")
    for name, value in fallback.values.items():
        returning = target.methods.get(name)
        if returning is None:
            raise TopologyError(f"{where} fallback.values.{name}: {target.name} has no method "
                                f"'{name}'{did_you_mean(name, target.methods)}")
        shape: Any = list[returning.result] if returning.stream else returning.result  # type: ignore[name-defined]
        convert(value, shape, f"{where} fallback.values.{name} ")
