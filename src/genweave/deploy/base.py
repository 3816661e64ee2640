"""What every deployer returns: a running app you can call into and stop."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Any, TypeVar, cast

from genweave.application import App
from genweave.component import spec_of
from genweave.runtime.refs import ComponentProxy
from genweave.topology import Topology

__all__ = ["Deployment"]

T = TypeVar("T")


class Deployment(abc.ABC):
    """A running application under one topology and placement.

    Example::

        async with deploy(app, topology="microservices") as running:
            frontend = running.get(Frontend)
            print(await frontend.hello("world"))
    """

    def __init__(self, app: App, topology: Topology) -> None:
        self.app = app
        self.topology = topology

    @abc.abstractmethod
    async def start(self) -> None:
        """Start every group and return once all replicas are ready."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop gracefully: callers before callees, in-flight calls finished."""

    @abc.abstractmethod
    def proxy(self, component: str) -> ComponentProxy:
        """A client-side Ref to ``component``, from outside every group."""

    def get(self, cls: type[T]) -> T:
        """A Ref to the component class ``cls``, typed as the class itself."""
        return cast(T, self.proxy(spec_of(cls).name))

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()
