"""A client that finds an app's replicas by DNS, driven line by line through stdin.

Run as ``python discovery_client.py MODULE:APP TOPOLOGY`` inside the network
namespace (and resolver) of the replicas it calls.  Each input line is a JSON
command, each answer one JSON line:

- ``{"call": "Model.pid", "args": {}, "times": 10}`` -> ``{"results": [...],
  "errors": [...]}``: the calls made one after the other;
- ``{"members": "model"}`` -> ``{"members": ["tcp:10.0.0.3:7070", ...]}``: the
  group's replicas in this client's set now.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import msgspec

from genweave.application import load_app
from genweave.deploy.attach import AttachedDeployment
from genweave.runtime.discovery import DnsDiscovery
from genweave.topology import resolve_topology


async def serve(running: AttachedDeployment, command: dict[str, Any]) -> dict[str, Any]:
    if "members" in command:
        return {"members": list(running.membership.endpoints(command["members"]))}
    component, _, method = command["call"].partition(".")
    results, errors = [], []
    for _ in range(command.get("times", 1)):
        try:
            result = await getattr(running.proxy(component), method)(**command.get("args", {}))
            results.append(msgspec.to_builtins(result))
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    return {"results": results, "errors": errors}


async def main() -> None:
    app = load_app(sys.argv[1])
    topology = resolve_topology(sys.argv[2], app)
    discovery = DnsDiscovery(app.name, "client", topology)
    loop = asyncio.get_running_loop()
    async with AttachedDeployment(app, topology, discovery) as running:
        print(json.dumps({"ready": True}), flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            print(json.dumps(await serve(running, json.loads(line))), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
