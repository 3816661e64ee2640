"""The components ``bench/hops.py`` measures; worker processes import this module.

``Echo`` does no work, so a call's time is the hop alone.  ``PlainEcho`` is the
same method on a class genweave never sees: the in-process baseline.
"""

from __future__ import annotations

from genweave import App, component


class PlainEcho:
    async def echo(self, text: str) -> str:
        return text


@component
class Echo:
    async def echo(self, text: str) -> str:
        return text


app = App("hops", [Echo])
