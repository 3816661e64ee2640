"""An HTTP client of the reference app's gateway, run inside a pod's network namespace.

Run as ``python gateway_client.py BASE_URL``; driven by JSON lines on stdin,
it answers each with one JSON line (and prints nothing else):

- ``{"get": URL}`` -> ``{"status": 200, "text": "..."}`` (any URL on the network;
  with ``"lines": PREFIX`` only the lines that start with it);
- ``{"post": PATH, "body": {...}}`` -> ``{"status": 200, "json": {...}}``;
- ``{"stream": BODY, "id": NAME}`` starts a streamed chat and answers once its
  first event has come: ``{"id": NAME, "first": {...}}``; ``{"finish": NAME}``
  answers when it ends: ``{"events": [the last 3], "count": N, "done": true}``
  (answers are single lines, which a reader takes up to 64 KiB; ``done``: the
  ``[DONE]`` line came; an ``{"error": ...}`` event is kept among the events),
  or, if it has not ended within ``"within"`` seconds (default 30), its last
  events with ``"hung"`` saying so;
- ``{"load": "start", "callers": N, "bodies": {KIND: [PATH, BODY], ...}}``
  starts N callers per kind, each repeating its request;
  ``{"load": "stop"}`` stops them and answers ``{"requests": [[KIND, START,
  END, STATUS, DETAIL], ...]}`` (DETAIL: a failure's answer; times from
  ``time.monotonic``, the same clock as the test's on Linux; status 0: no HTTP
  answer);
  ``{"progress": T}`` -> ``{"finished": N}``: load requests started after T
  and finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(60.0)


class Client:
    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=TIMEOUT, trust_env=False)
        self.streams: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.partial: dict[str, list[Any]] = {}
        self.requests: list[list[Any]] = []
        self.stopping = asyncio.Event()
        self.callers: list[asyncio.Task[None]] = []

    async def serve(self, command: dict[str, Any]) -> dict[str, Any]:
        if "get" in command:
            answer = await self.http.get(command["get"])
            text = answer.text
            if "lines" in command:
                text = "\n".join(line for line in text.splitlines()
                                 if line.startswith(command["lines"]))
            return {"status": answer.status_code, "text": text}
        if "post" in command:
            answer = await self.http.post(command["post"], json=command["body"])
            return {"status": answer.status_code, "json": answer.json()}
        if "stream" in command:
            return await self.start_stream(command["id"], command["stream"])
        if "finish" in command:
            return await self.finish(command["finish"], command.get("within", 30.0))
        if "progress" in command:
            return {"finished": sum(1 for r in self.requests if r[1] > command["progress"])}
        if command.get("load") == "start":
            self.start_load(command["bodies"], command["callers"])
            return {"started": True}
        return await self.stop_load()

    async def start_stream(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        first: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.partial[name] = []
        self.streams[name] = asyncio.create_task(self._stream(body, first, self.partial[name]))
        return {"id": name, "first": await first}

    async def _stream(self, body: dict[str, Any], first: asyncio.Future[dict[str, Any]],
                      events: list[Any]) -> dict[str, Any]:
        done = False
        try:
            async with self.http.stream("POST", "/v1/chat/completions",
                                        json={**body, "stream": True}) as answer:
                async for line in answer.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    if line == "data: [DONE]":
                        done = True
                        continue
                    events.append(json.loads(line[6:]))
                    if not first.done():
                        first.set_result(events[0])
        except httpx.HTTPError as exc:
            events.append({"transport_error": f"{type(exc).__name__}: {exc}"})
        if not first.done():
            first.set_result({"no_event": events})
        return {"events": events[-3:], "count": len(events), "done": done}

    async def finish(self, name: str, within: float) -> dict[str, Any]:
        """The stream's end, or what it had sent if it has not ended ``within`` seconds."""
        task = self.streams.pop(name)
        try:
            return await asyncio.wait_for(asyncio.shield(task), within)
        except TimeoutError:
            task.cancel()
            return {"events": self.partial.pop(name, [])[-3:], "done": False,
                    "hung": f"no end within {within:g}s"}

    def start_load(self, bodies: dict[str, list[Any]], callers: int) -> None:
        self.stopping.clear()
        self.callers = [asyncio.create_task(self._call(kind, path, body))
                        for kind, (path, body) in bodies.items() for _ in range(callers)]

    async def _call(self, kind: str, path: str, body: dict[str, Any]) -> None:
        while not self.stopping.is_set():
            start = time.monotonic()
            try:
                answer = await self.http.post(path, json=body)
                status = answer.status_code
                detail = "" if status == 200 else answer.text[:300]
            except httpx.HTTPError as exc:
                status, detail = 0, f"{type(exc).__name__}: {exc}"
            self.requests.append([kind, start, time.monotonic(), status, detail])

    async def stop_load(self) -> dict[str, Any]:
        self.stopping.set()
        await asyncio.gather(*self.callers)
        requests, self.requests = self.requests, []
        return {"requests": requests}


async def main() -> None:
    client = Client(sys.argv[1])
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def answer(command: dict[str, Any]) -> None:
        try:
            reply = await client.serve(command)
        except Exception as exc:
            reply = {"client_error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)

    while line := await loop.run_in_executor(None, sys.stdin.readline):
        task = asyncio.create_task(answer(json.loads(line)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    with contextlib.suppress(Exception):
        await client.http.aclose()


if __name__ == "__main__":
    asyncio.run(main())
