"""An app whose interface depends on ``$VERSIONED_APP``: two versions side by side.

Version 1's ``Echo.echo(text)`` is called by version 2 with a required
``loud`` parameter it does not know, so a caller and a callee of different
versions must fail loudly at the handshake's interface check, never garble.
"""

from __future__ import annotations

import os

from genweave import App, component

VERSION = os.environ.get("VERSIONED_APP", "1")

if VERSION == "1":
    @component(name="Echo", version="1")
    class Echo:
        async def echo(self, text: str) -> str:
            return text
else:
    @component(name="Echo", version=VERSION)
    class Echo:  # type: ignore[no-redef]
        async def echo(self, text: str, loud: bool) -> str:
            return text.upper() if loud else text


app = App("versioned", [Echo])
