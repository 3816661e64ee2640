"""The endpoints every app's HTTP API needs: health, readiness, metrics and the live view.

Any component that serves an :class:`~genweave.gateway.api.Api` adds them with
the runtime it was given; they describe the whole deployment, whichever
replica answers::

    @component
    class Front:
        runtime: Runtime

        async def on_start(self) -> None:
            api = Api("my app", keys=KeyRing([]))
            Operations(self.runtime).add_to(api)

Health, readiness and metrics are exempt from the limits on clients
(:mod:`genweave.gateway.limits`): probes keep answering while an attack
holds every slot, so an orchestrator does not restart the replica for it.

- ``GET /healthz``: the process answers (no key needed).
- ``GET /readyz``: every replica is ready, else 503 naming the groups still
  waiting (no key needed: orchestrators probe it).
- ``GET /metrics``: every replica's call metrics, Prometheus text format (no key).
- ``GET /v1/genweave/status``: groups, replicas and per-method traffic, as the
  console shows them.  It names processes and pids, so it needs a key where
  keys are configured, but polling it spends no rate limit.
"""

from __future__ import annotations

import collections
import time
from http import HTTPStatus
from typing import Final

import msgspec
from starlette.responses import JSONResponse, Response

from genweave.gateway.api import Api, ApiCall
from genweave.gateway.metrics import CONTENT_TYPE, render
from genweave.observe.summary import MethodSummary, Totals, summarize, totals
from genweave.runtime.introspect import Runtime

__all__ = [
    "STATUS_WINDOW",
    "DeploymentView",
    "Operations",
    "StatusGroup",
    "StatusReplica",
]

STATUS_WINDOW: Final = 1.0
"""Seconds over which the live view's request rates and latencies are measured."""
STATUS_SAMPLES: Final = 64
STATUS_PATH: Final = "/v1/genweave/status"


class StatusReplica(msgspec.Struct, frozen=True):
    name: str
    state: str
    pid: int | None
    restarts: int
    version: str = "1"
    """The version it runs, or its experiment variant's name."""


class StatusGroup(msgspec.Struct, frozen=True):
    name: str
    components: list[str]
    replicas: list[StatusReplica]


class DeploymentView(msgspec.Struct, frozen=True):
    """The console's live view: groups, replicas and per-method traffic."""

    app: str
    topology: str
    ready: bool
    groups: list[StatusGroup]
    methods: list[MethodSummary]


class Operations:
    """Health, readiness, metrics and the live status view of one running app."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._samples: collections.deque[Totals] = collections.deque(maxlen=STATUS_SAMPLES)

    def add_to(self, api: Api) -> None:
        """Serve the four endpoints from ``api``."""
        api.get(STATUS_PATH, response=DeploymentView, metered=False)(self.status)
        api.get("/healthz", auth=False, exempt=True)(self.healthz)
        api.get("/readyz", auth=False, exempt=True)(self.readyz)
        api.get("/metrics", auth=False, exempt=True)(self.metrics)

    async def status(self, call: ApiCall, body: None) -> DeploymentView:
        """Groups, replicas and per-method traffic over the last ``STATUS_WINDOW``."""
        status = await self.runtime.status()
        now = totals(await self.runtime.metrics(), time.monotonic())
        rows = summarize(now, self.window_start(now))
        self._samples.append(now)
        groups = [StatusGroup(g.name, list(g.components), [
            StatusReplica(r.name, r.state, r.pid, r.restarts, r.variant or r.version)
            for r in status.replicas if r.group == g.name]) for g in self.runtime.topology.groups]
        return DeploymentView(status.app, status.topology, status.ready(), groups, rows)

    def window_start(self, now: Totals) -> Totals | None:
        """The latest sample at least ``STATUS_WINDOW`` old, so that rates do not depend
        on how many consoles (or ``genweave status``) poll, or how often."""
        earlier = [s for s in self._samples if now.at - s.at >= STATUS_WINDOW]
        if earlier:
            return earlier[-1]
        return self._samples[0] if self._samples else None

    async def healthz(self, call: ApiCall, body: None) -> Response:
        """The process answers."""
        return JSONResponse({"status": "ok"})

    async def readyz(self, call: ApiCall, body: None) -> Response:
        """Every replica is ready; else 503 with the groups still waiting."""
        status = await self.runtime.status()
        waiting = sorted({r.group for r in status.replicas} - {
            r.group for r in status.replicas if r.state == "ready"})
        code = HTTPStatus.OK if status.ready() else HTTPStatus.SERVICE_UNAVAILABLE
        return JSONResponse({"ready": status.ready(), "waiting_for": waiting}, status_code=code)

    async def metrics(self, call: ApiCall, body: None) -> Response:
        """Every replica's call metrics in the Prometheus text format."""
        exposition = render(await self.runtime.status(), await self.runtime.metrics())
        return Response(exposition, media_type=CONTENT_TYPE)
