"""Reading a server-sent event stream (the ``text/event-stream`` format).

OpenAI-compatible servers stream one JSON chunk per event and end with a
``[DONE]`` event. Only the parts of the format those servers use matter
here: ``data:`` lines (an event may span several), the ``event:`` name,
comments, and the blank line that ends an event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, NamedTuple

__all__ = ["DONE", "Event", "iter_events"]

DONE: Final = "[DONE]"


class Event(NamedTuple):
    """One event: its name (``"message"`` unless the server named it) and data."""

    name: str
    data: str


async def iter_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """The events in a stream of lines (without line endings).

    The lines ``data: {"a": 1}``, (blank), ``: keep-alive``, ``data: [DONE]``,
    (blank) give ``Event("message", '{"a": 1}')`` then ``Event("message", "[DONE]")``:

        async for event in iter_events(response.aiter_lines()):
            ...
    """
    name, data = "", list[str]()
    async for line in lines:
        if not line:
            if data:
                yield Event(name or "message", "\n".join(data))
            name, data = "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    if data:  # a server that closes without the final blank line
        yield Event(name or "message", "\n".join(data))
