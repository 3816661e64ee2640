"""Processes a test starts (``genweave worker`` replicas, helpers): output, signals, cleanup.

Used by the worker tests (static addresses on loopback, DNS inside a network
namespace).  ``Processes`` remembers every process it started and kills what
is left when the test ends, passed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from conftest import eventually

START_TIMEOUT: Final = 60.0
"""Seconds a process has to be ready (the machine may be busy with other tests)."""
ANSWER_TIMEOUT: Final = 60.0


class Process:
    """One process; every line it writes (stdout and stderr) is kept in ``lines``."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.lines: list[str] = []
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> Process:
        self.lines = []
        self.process = await asyncio.create_subprocess_exec(
            *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
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

    async def printed(self, text: str, timeout: float = START_TIMEOUT) -> Process:
        """Wait for a line containing ``text``; fail with the output if it exits first."""
        def printed_or_gone() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"{self.command} exited with {self.process.returncode}:"
                                     f"\n{self.output}")
            return any(text in line for line in self.lines)

        await eventually(printed_or_gone, timeout, what=f"{text!r} from {self.command}")
        return self

    async def ready(self, timeout: float = START_TIMEOUT) -> Process:
        """Wait for a worker's 'ready at' line."""
        return await self.printed(" ready at ", timeout)

    async def ask(self, **command: Any) -> Any:
        """Write ``command`` as a JSON line and read the JSON line it answers (log lines,
        which go to the same pipe, are passed over)."""
        assert self.process is not None and self.process.stdin is not None
        seen = len(self.lines)
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

        def answer() -> list[str]:
            return [line for line in self.lines[seen:] if line.startswith("{")]

        await eventually(answer, ANSWER_TIMEOUT, what=f"an answer to {command}")
        return json.loads(answer()[0])

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


class Processes:
    """Every process a test started; ``close`` kills those still running."""

    def __init__(self) -> None:
        self.started: list[Process] = []

    @staticmethod
    def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This environment, the test's apps importable, plus ``extra``."""
        path = os.pathsep.join(p or os.getcwd() for p in sys.path)
        return {**os.environ, "PYTHONPATH": path, **(extra or {})}

    async def spawn(self, command: Sequence[str],
                    env: Mapping[str, str] | None = None) -> Process:
        process = Process(command, self.env(env))
        self.started.append(process)
        return await process.start()

    async def worker(self, arguments: Sequence[str], env: Mapping[str, str] | None = None,
                     prefix: Sequence[str] = ()) -> Process:
        """``genweave worker ARGUMENTS``, run through ``prefix`` (e.g. ``ip netns exec NS``)."""
        return await self.spawn([*prefix, *python("-m", "genweave", "worker", *arguments)], env)

    async def close(self) -> None:
        for process in self.started:
            await process.kill()


def python(*arguments: str) -> list[str]:
    """This interpreter (the project's virtual environment) with ``arguments``."""
    return [sys.executable, *arguments]


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
