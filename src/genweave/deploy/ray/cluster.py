"""``RayCluster``: every call genweave makes into Ray, in one class.

Ray is a placement engine here, never the data path: it starts the replicas'
actors where their resources are, restarts them when they die, and holds the
membership registry; calls between groups go over genweave's own transport.
Nothing outside this module imports Ray, and this module imports it only when
a ``RayCluster`` is made, so genweave without the ``ray`` extra still imports
(and says which extra to install when Ray is asked for).

Example::

    cluster = RayCluster.connect("auto")          # or "ray://head:10001", None: a new local one
    registry = cluster.start_actor(Registry, (["core", "model"],), name="genweave-assistant")
    view = await cluster.call(registry, "view")
    cluster.disconnect()
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from typing import Any, Final

from genweave.deploy.local import DeployError

__all__ = ["RAY_EXTRA", "ActorGone", "ActorHandle", "RayCluster", "check_reachable", "import_ray"]

RAY_EXTRA: Final = "pip install 'genweave[ray]'"
NAMESPACE: Final = "genweave"
REACH_TIMEOUT: Final = 5.0
"""Seconds to wait for a cluster's address to accept a connection before giving up on it."""
_CLIENT_SCHEME: Final = "ray://"
"""The Ray namespace genweave's named actors live in."""

ActorHandle = Any
"""A Ray actor handle (Ray ships no type stubs)."""

logger = logging.getLogger("genweave.ray")


def import_ray() -> Any:
    """The ``ray`` module, or a ``DeployError`` that says which extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise DeployError(f"running on Ray needs Ray, which is not installed here ({exc}); "
                          f"install it with {RAY_EXTRA}") from None
    return ray


def check_reachable(address: str, timeout: float = REACH_TIMEOUT) -> None:
    """Fail fast, naming ``address``, when nothing accepts connections there.

    Ray itself retries an unreachable address for minutes; ``auto`` and
    ``local`` are Ray's to resolve.
    """
    host, _, port = address.removeprefix(_CLIENT_SCHEME).rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise DeployError(f"cannot reach the Ray cluster at {address} ({exc}); start one with "
                          "'ray start --head', or pass its address (--address HOST:6379, or "
                          "ray://HOST:10001)") from None


class RayCluster:
    """A connection to a Ray cluster: start, call and kill actors, list nodes.

    ``owned``: whether this object connected the process to Ray (and so
    disconnects it); inside an actor, or when the caller had already called
    ``ray.init``, it is not.
    """

    def __init__(self, ray: Any, owned: bool) -> None:
        self._ray = ray
        self.owned = owned

    @classmethod
    def connect(cls, address: str | None = None,
                runtime_env: Mapping[str, Any] | None = None) -> RayCluster:
        """Connect this process to the cluster at ``address`` (``None``: start a local one)."""
        ray = import_ray()
        if ray.is_initialized():
            return cls(ray, owned=False)
        if address is not None:
            check_reachable(address)
        try:
            ray.init(address=address, namespace=NAMESPACE, runtime_env=dict(runtime_env or {}),
                     log_to_driver=True, configure_logging=False)
        except (ConnectionError, TimeoutError, RuntimeError) as exc:
            raise DeployError(f"cannot connect to the Ray cluster at {address}: {exc}; start one "
                              "with 'ray start --head', or pass its address (--address "
                              "HOST:6379, or ray://HOST:10001)") from None
        return cls(ray, owned=True)

    @classmethod
    def inside(cls) -> RayCluster:
        """The cluster this process already belongs to (in an actor)."""
        return cls(import_ray(), owned=False)

    def nodes(self) -> list[str]:
        """The ids of the cluster's live nodes."""
        return [node["NodeID"] for node in self._ray.nodes() if node.get("Alive")]

    def node_ip(self) -> str:
        """This process's node's IP address: where its replica listens."""
        return str(self._ray.util.get_node_ip_address())

    def node_id(self) -> str:
        """This process's node's id."""
        return str(self._ray.get_runtime_context().get_node_id())

    def start_actor(self, cls: type, args: tuple[Any, ...], *, name: str | None = None,
                    options: Mapping[str, Any] | None = None) -> ActorHandle:
        """Start ``cls`` as an actor (named, if ``name``) with Ray ``options``."""
        chosen = dict(options or {})
        if name is not None:
            chosen.update(name=name, namespace=NAMESPACE)
        return self._ray.remote(cls).options(**chosen).remote(*args)

    def actor(self, name: str) -> ActorHandle:
        """The named actor ``name`` (the registry, from a replica)."""
        return self._ray.get_actor(name, namespace=NAMESPACE)

    async def call(self, actor: ActorHandle, method: str, *args: Any,
                   timeout: float | None = None) -> Any:
        """Call ``actor.method(*args)`` and await its result, from any event loop.

        A dead or unreachable actor raises ``ActorGone``; ``timeout`` raises ``TimeoutError``.
        """
        ref = getattr(actor, method).remote(*args)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.wrap_future(ref.future())
        except self._ray.exceptions.RayError as exc:
            raise ActorGone(f"{method}: {exc}") from None

    def kill(self, actor: ActorHandle, restart: bool = False) -> None:
        """End ``actor``'s process now; ``restart=True`` lets Ray restart it as after a crash."""
        try:
            self._ray.kill(actor, no_restart=not restart)
        except (ValueError, self._ray.exceptions.RayError) as exc:
            logger.warning("could not kill an actor: %s", exc)

    def disconnect(self) -> None:
        """Disconnect this process from Ray, if ``connect`` connected it."""
        if self.owned and self._ray.is_initialized():
            self._ray.shutdown()


class ActorGone(DeployError):
    """An actor could not be reached: it died, or the cluster is gone."""
