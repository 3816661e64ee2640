"""An app whose start and calls the test holds open, to watch a replica start and drain.

``on_start`` waits until the file named by ``$LIFECYCLE_GATE`` exists (none
set: it starts at once), so a test sees ``/readyz`` answer 503 while the
group starts; ``hold`` keeps a call in flight for as long as asked, so a test
sees a drain finish it.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Final

from genweave import App, component, method

GATE_ENV: Final = "LIFECYCLE_GATE"
_POLL: Final = 0.02


@component
class Keeper:
    async def on_start(self) -> None:
        gate = os.environ.get(GATE_ENV)
        while gate and not Path(gate).exists():
            await asyncio.sleep(_POLL)

    @method(idempotent=True)
    async def ping(self) -> str:
        return "pong"

    async def hold(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"held {seconds:g}s"


app = App("lifecycle", [Keeper])
