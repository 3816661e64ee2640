"""The components ``bench/on_ray.py`` runs on Ray; the replicas' processes import this module.

``Prober`` times calls to ``Echo`` from inside its own replica, so the number
is one genweave hop between two Ray actors on two nodes, with nothing of the
bench's driver in it.
"""

from __future__ import annotations

import time

from genweave import App, Ref, component


@component
class Echo:
    async def echo(self, payload: bytes) -> bytes:
        return payload


@component
class Prober:
    echo: Ref[Echo]

    async def hops(self, payload: bytes, n: int) -> list[int]:
        """``n`` sequential calls to ``Echo.echo``; each one's latency in nanoseconds."""
        clock = time.perf_counter_ns
        latencies = []
        for _ in range(n):
            start = clock()
            await self.echo.echo(payload)
            latencies.append(clock() - start)
        return latencies


app = App("raybench", [Prober, Echo])
