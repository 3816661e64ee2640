"""An app whose component cannot start: the supervisor must report why and give up."""

from __future__ import annotations

from genweave import App, component


@component
class Broken:
    async def on_start(self) -> None:
        raise RuntimeError("model weights not found at /nowhere")

    async def ping(self) -> str:
        return "pong"


app = App("broken", [Broken])
