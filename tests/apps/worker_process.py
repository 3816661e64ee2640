"""``genweave worker`` processes started by a test: their output, readiness, signals, cleanup.

Used by the worker tests (static addresses on loopback, DNS inside a network
namespace).  ``Workers`` remembers every process it started and kills what is
left when the test ends, passed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Final

from conftest import eventually

START_TIMEOUT: Final = 60.0
"""Seconds a worker has to be ready (the machine may be busy with other tests)."""


class WorkerProcess:
    """One replica: ``[*prefix, python, -m, genweave, worker, *arguments]``."""

    def __init__(self, arguments: Sequence[str], env: Mapping[str, str],
                 prefix: Sequence[str] = ()) -> None:
        self.command = [*prefix, sys.executable, "-m", "genweave", "worker", *arguments]
        self.env = dict(env)
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> WorkerProcess:
        self.lines = []
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=self.env)
        self._pump = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def ready(self, timeout: float = START_TIMEOUT) -> WorkerProcess:
        """Wait for its 'ready at' line; fail with its output if it exits first."""
        def ready_or_gone() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n"
                                     f"{self.output}")
            return any(" ready at " in line for line in self.lines)

        await eventually(ready_or_gone, timeout, what=f"worker ready ({self.command})")
        return self

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)

    async def wait(self, timeout: float = START_TIMEOUT) -> int:
        """Its exit code, once its output is read to the end."""
        assert self.process is not None and self._pump is not None
        async with asyncio.timeout(timeout):
            code = await self.process.wait()
            await self._pump
        return code

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.signal(signal.SIGKILL)
            await self.wait()


class Workers:
    """Every worker a test started; ``close`` kills those still running."""

    def __init__(self) -> None:
        self.started: list[WorkerProcess] = []

    async def start(self, arguments: Sequence[str], env: Mapping[str, str] | None = None,
                    prefix: Sequence[str] = ()) -> WorkerProcess:
        path = os.pathsep.join(p or os.getcwd() for p in sys.path)  # the test's apps importable
        worker = WorkerProcess(arguments, {**os.environ, "PYTHONPATH": path, **(env or {})},
                               prefix)
        self.started.append(worker)
        return await worker.start()

    async def close(self) -> None:
        for worker in self.started:
            await worker.kill()


def free_port(*hosts: str) -> int:
    """A TCP port free on every one of ``hosts`` (each its own loopback address)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port: int = probe.getsockname()[1]
        if all(_free(host, port) for host in hosts):
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


def _free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
