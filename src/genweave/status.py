"""``genweave status``: the running topology as a table, from outside the deployment."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from genweave.deploy.base import Deployment
from genweave.observe.summary import MethodSummary, summarize, totals
from genweave.runtime.introspect import Runtime

__all__ = ["render_status"]


async def render_status(deployment: Deployment, runtime: Runtime, interval: float = 1.0,
                        out: Callable[[str], None] = print) -> None:
    """Print groups, replicas and health, then traffic per method over ``interval``."""
    earlier = await runtime.metrics()
    at = time.monotonic()
    await asyncio.sleep(interval)
    status = await runtime.status()
    later = await runtime.metrics()
    now = time.monotonic()
    rows = summarize(totals(later, now), totals(earlier, at))
    variants = summarize(totals(later, now, variants=True), totals(earlier, at, variants=True))
    out(f"app '{status.app}', topology '{status.topology}': "
        f"{'ready' if status.ready() else 'NOT READY'}")
    out("")
    out(f"{'GROUP':<16} {'REPLICA':<14} {'VERSION':<10} {'STATE':<11} {'PID':>7} "
        f"{'RESTARTS':>8}  COMPONENTS")
    for group in deployment.topology.groups:
        for replica in (r for r in status.replicas if r.group == group.name):
            version = replica.variant or replica.version
            out(f"{group.name:<16} {replica.name:<14} {version:<10} {replica.state:<11} "
                f"{replica.pid or '-':>7} {replica.restarts:>8}  {', '.join(group.components)}")
    for group in deployment.topology.groups:
        if group.describe():
            out(f"{group.name}: {group.describe()}")
    if variants:
        out("")
        out(f"{'EXPERIMENT (GROUP/VARIANT)':<40} {'REQ/S':>8} {'P50 MS':>8} {'P99 MS':>8} "
            f"{'CALLS':>8} {'ERRORS':>7}")
        for row in variants:
            out(_method_line(row, "/"))
    out("")
    out(f"{'METHOD':<40} {'REQ/S':>8} {'P50 MS':>8} {'P99 MS':>8} {'CALLS':>8} {'ERRORS':>7}")
    for row in rows:
        if not row.component.startswith("genweave."):
            out(_method_line(row))


def _method_line(row: MethodSummary, separator: str = ".") -> str:
    name = f"{row.component}{separator}{row.method}"
    return (f"{name[:40]:<40} {row.rate:>8.1f} {_ms(row.p50_ms):>8} {_ms(row.p99_ms):>8} "
            f"{row.calls:>8} {row.errors:>7}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
