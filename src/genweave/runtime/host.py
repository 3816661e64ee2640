"""Hosting the components of one group: create them, inject Refs, run their hooks.

The same ``Host`` runs inside a worker process, or several of them side by side
in one process for the ``inprocess`` and ``codec`` placements.
"""

from __future__ import annotations

import graphlib
import inspect
import logging
from collections.abc import Callable, Mapping

from genweave.application import App
from genweave.codec import DEFAULT_MAX_MESSAGE_BYTES
from genweave.component import ComponentSpec, injected_annotations, spec_of
from genweave.resilience import RefPolicy, RetryPolicy, policy_for
from genweave.runtime.admission import UNLIMITED
from genweave.runtime.callee import Callee
from genweave.runtime.guard import guarded_proxy
from genweave.runtime.introspect import Admin, ReplicaLoad, Runtime
from genweave.runtime.refs import ComponentProxy, direct_proxy, remote_proxy
from genweave.runtime.router import Router
from genweave.topology import Topology, component_settings

__all__ = ["Host"]

logger = logging.getLogger("genweave.host")

ProxyFactory = Callable[[ComponentSpec, str, float | None, RetryPolicy | None], ComponentProxy]
"""(target spec, calling component, timeout, retry) -> proxy for a component outside this host."""


class Host:
    """The live instances of a set of components, wired together.

    ``remote`` makes proxies for Ref targets that this host does not contain;
    with ``remote=None`` every target must be local (the monolith case).
    """

    def __init__(self, app: App, names: tuple[str, ...], remote: ProxyFactory | None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 settings: Mapping[str, object] | None = None,
                 runtime: Runtime | None = None,
                 refs: Mapping[str, RefPolicy] | None = None) -> None:
        self.app = app
        self.runtime = runtime
        self.refs = refs or {}
        """Ref isolation policies, as in ``Topology.refs``."""
        self.settings = settings or {}
        self.max_message_bytes = max_message_bytes
        self.names = names
        self.instances: dict[str, object] = {}
        self._remote = remote
        self._started: list[str] = []

    @classmethod
    def for_group(cls, app: App, topology: Topology, group: str, router: Router,
                  runtime: Runtime | None = None, variant: str | None = None) -> Host:
        """A host for ``group`` (or one of its variants) whose other Refs go through ``router``."""

        def remote(target: ComponentSpec, caller: str, timeout: float | None,
                   retry: RetryPolicy | None) -> ComponentProxy:
            return remote_proxy(target, router, topology.group_of(target.name).name, caller,
                                timeout, retry)

        names = topology.group(group).components
        settings = {name: component_settings(topology, app, name, variant) for name in names}
        return cls(app, names, remote, topology.max_message_bytes, settings, runtime,
                   topology.refs)

    async def start(self) -> None:
        """Instantiate, inject, then run ``on_start`` hooks, dependencies first."""
        specs = {name: self.app.components[name] for name in self.names}
        for name, spec in specs.items():
            instance = self.instances[name] = spec.cls()
            if spec.config is not None:
                instance.config = self.settings.get(name) or spec.config()
        for name, spec in specs.items():
            for attr, target_cls in spec.refs.items():
                setattr(self.instances[name], attr, self.ref(name, attr, spec_of(target_cls)))
            self._inject_runtime(name, spec)
        for name in self._start_order():
            hook = getattr(self.instances[name], "on_start", None)
            if hook is not None and inspect.iscoroutinefunction(hook):
                await hook()
            self._started.append(name)

    def _inject_runtime(self, name: str, spec: ComponentSpec) -> None:
        for attr, hint in injected_annotations(spec.cls, name).items():
            if isinstance(hint, type) and issubclass(hint, Runtime):
                if self.runtime is None:
                    raise LookupError(f"{name}.{attr}: no Runtime is available in this host")
                setattr(self.instances[name], attr, self.runtime)

    def ref(self, caller: str, attribute: str, target: ComponentSpec) -> ComponentProxy:
        """What ``caller.attribute`` holds: a proxy to ``target`` under its Ref policy."""
        policy = policy_for(self.refs, caller, attribute, target.name)
        if policy is None:
            return self.proxy(target, caller)
        proxy = self.proxy(target, caller, policy.timeout, policy.retry())
        if policy.circuit is None and policy.bulkhead is None and policy.fallback is None:
            return proxy
        spare = policy.fallback.component if policy.fallback is not None else None
        fallback = self.proxy(self.app.spec(spare), caller) if spare is not None else None
        return guarded_proxy(proxy, policy, fallback)

    def proxy(self, target: ComponentSpec, caller: str, timeout: float | None = None,
              retry: RetryPolicy | None = None) -> ComponentProxy:
        """A plain proxy to ``target``, direct when it lives in this host."""
        instance = self.instances.get(target.name)
        if instance is not None:
            return direct_proxy(target, instance, timeout)
        if self._remote is None:
            raise LookupError(f"component '{target.name}' is not hosted here")
        return self._remote(target, caller, timeout, retry)

    def dispatcher(self, where: str, max_in_flight: int = UNLIMITED) -> Callee:
        """The callee serving this host's components (and ``genweave.Admin``) to other processes."""
        served: dict[str, tuple[object, ComponentSpec]] = {
            name: (instance, self.app.components[name]) for name, instance in self.instances.items()
        }
        callee: Callee | None = None

        def load() -> ReplicaLoad:
            assert callee is not None
            # The load() call itself is in flight too; it is not application work.
            return ReplicaLoad(callee.admission.in_flight - 1, callee.admission.refused)

        served["genweave.Admin"] = (Admin(where, load), spec_of(Admin))
        callee = Callee(self.app.name, where, served, self.max_message_bytes, max_in_flight)
        return callee

    async def stop(self) -> None:
        """Run ``on_stop`` hooks in reverse start order; one failing does not skip the rest."""
        while self._started:
            name = self._started.pop()
            hook = getattr(self.instances[name], "on_stop", None)
            if hook is None or not inspect.iscoroutinefunction(hook):
                continue
            try:
                await hook()
            except Exception:
                logger.exception("%s.on_stop failed", name)

    def _start_order(self) -> list[str]:
        deps = self.app.dependencies()
        graph = {name: deps[name] & set(self.names) for name in self.names}
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError:
            return list(self.names)
