"""An app with a component that looks at its own deployment."""

from __future__ import annotations

from genweave import App, Ref, component
from genweave.runtime.introspect import DeploymentStatus, ReplicaMetrics, Runtime


@component
class Worker:
    async def double(self, x: int) -> int:
        return 2 * x


@component
class Watcher:
    runtime: Runtime
    worker: Ref[Worker]

    async def work(self, n: int) -> int:
        return sum([await self.worker.double(i) for i in range(n)])

    async def status(self) -> DeploymentStatus:
        return await self.runtime.status()

    async def metrics(self) -> list[ReplicaMetrics]:
        return await self.runtime.metrics()


app = App("introspect", [Watcher])
