"""Run by a test as a separate supervisor process, which the test then SIGKILLs."""

from __future__ import annotations

import asyncio
import json
import sys

from genweave import deployment


async def main() -> None:
    running = deployment("sample_app:app", "microservices", "process", log=lambda line: None)
    await running.start()
    pids = [running.pid(g.name) for g in running.topology.groups]  # type: ignore[attr-defined]
    print(json.dumps(pids), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    asyncio.run(main())
