"""The app ``bench/operations.py`` measures; worker processes import this module.

``Infer`` burns a fixed amount of CPU per call, like a model would, so one
replica has a real capacity and a second one on another core adds to it.
``Front`` is the cheap caller in the ``core`` group.
"""

from __future__ import annotations

import time

import msgspec

from genweave import App, Ref, component


class InferSettings(msgspec.Struct, frozen=True):
    label: str = "v1"
    cost_ms: float = 2.0
    """CPU time each call spends."""


@component(role="inference", config=InferSettings)
class Infer:
    config: InferSettings

    async def run(self, prompt: str) -> str:
        until = time.perf_counter() + self.config.cost_ms / 1000
        while time.perf_counter() < until:  # busy on purpose: a model holds its core
            pass
        return self.config.label


@component
class Front:
    infer: Ref[Infer]

    async def ask(self, prompt: str) -> str:
        return await self.infer.run(prompt)


app = App("operations", [Front])
