"""The registry actor's body alone (no Ray): joins, restarts, leaves, and long polls."""

from __future__ import annotations

import asyncio

from genweave.deploy.ray.registry import Registry, decode_view


async def test_replicas_are_listed_by_number_and_a_restart_replaces_the_address() -> None:
    registry = Registry(["core", "model"])
    await registry.joined("model", 1, "tcp:10.0.0.3:4001")
    await registry.joined("model", 0, "tcp:10.0.0.2:4000")
    assert decode_view(await registry.view()).groups == {
        "core": [], "model": ["tcp:10.0.0.2:4000", "tcp:10.0.0.3:4001"]}
    await registry.joined("model", 0, "tcp:10.0.0.2:4100")  # restarted by Ray
    await registry.leaving("model", 1)
    assert decode_view(await registry.view()).groups["model"] == ["tcp:10.0.0.2:4100"]


async def test_next_view_waits_for_a_change_and_leaving_twice_changes_nothing() -> None:
    registry = Registry(["model"])
    version = decode_view(await registry.view()).version
    waiting = asyncio.create_task(registry.next_view(version))
    await asyncio.sleep(0)
    assert not waiting.done()
    await registry.joined("model", 0, "tcp:10.0.0.2:4000")
    changed = decode_view(await waiting)
    assert changed.version == version + 1 and changed.groups["model"] == ["tcp:10.0.0.2:4000"]
    await registry.leaving("model", 0)
    await registry.leaving("model", 0)
    assert decode_view(await registry.view()).version == version + 2
