"""The reference app's own console panels: chat, image generation and document ingestion.

The framework's console (:mod:`genweave.gateway.console`) shows the topology,
replicas and methods of any app; the reference app's gateway adds these panels
to it.  ``main.html`` fills the main column, ``side.html`` goes below the live
view, ``panels.js`` drives them through the app's OpenAI-compatible API.
"""

from __future__ import annotations

from typing import Final

from genweave.gateway.console import ConsolePanels

__all__ = ["PANELS"]

PANELS: Final = ConsolePanels(__name__, main="main.html", side="side.html",
                              scripts=("panels.js",), styles=("panels.css",))
