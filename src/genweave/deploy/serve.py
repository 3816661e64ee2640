"""``genweave run``: supervise an app until SIGINT/SIGTERM, then stop it gracefully.

Signal handlers only enqueue; the main loop dispatches to ``handle_<signal>``
methods, so tests drive it by putting signals in the queue.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec

from genweave.application import App
from genweave.deploy.attach import default_rundir
from genweave.deploy.base import Deployment
from genweave.deploy.control import CONTROL_SOCKET
from genweave.deploy.local import DeployError, LocalDeployer
from genweave.errors import InvalidArgument
from genweave.topology import Topology
from genweave.transport.server import describe_validation_error

__all__ = ["Runner", "invoke", "parse_call"]


def parse_call(text: str) -> tuple[str, str, dict[str, Any]]:
    """``'Component.method {"arg": 1}'`` -> (component, method, keyword arguments)."""
    target, _, raw_args = text.strip().partition(" ")
    component, sep, method = target.rpartition(".")
    if not sep or not component or not method:
        raise ValueError(f"expected 'Component.method JSON-ARGS', got {text!r}")
    args = json.loads(raw_args) if raw_args.strip() else {}
    if not isinstance(args, dict):
        raise ValueError("call arguments must be a JSON object of parameter names to values")
    return component, method, args


async def invoke(deployment: Deployment, text: str, out: Callable[[str], None]) -> None:
    """Make the call described by ``text`` and print its result (each item, for streams)."""
    component, method_name, kwargs = parse_call(text)
    spec = deployment.app.spec(component)
    if method_name not in spec.methods:
        raise ValueError(f"{component} has no method '{method_name}'; it has "
                         f"{', '.join(sorted(spec.methods))}")
    method = spec.methods[method_name]
    unknown = sorted(set(kwargs) - {p.name for p in method.params})
    if unknown:
        raise InvalidArgument(f"unknown parameter '{unknown[0]}'", component=component,
                              method=method_name)
    try:
        args = msgspec.convert(kwargs, method.args_type)
    except msgspec.ValidationError as exc:
        raise InvalidArgument(describe_validation_error(str(exc)), component=component,
                              method=method_name) from None
    values = {name: getattr(args, name) for name in args.__struct_fields__}
    fn = getattr(deployment.proxy(component), method_name)
    if method.stream:
        async for item in fn(**values):
            out(_to_json(item))
    else:
        out(_to_json(await fn(**values)))


def _to_json(value: object) -> str:
    def enc_hook(obj: Any) -> Any:
        if hasattr(obj, "tolist"):
            return obj.tolist()
        raise TypeError(f"cannot show a {type(obj).__name__} as JSON")

    return msgspec.json.encode(value, enc_hook=enc_hook).decode()


class Runner:
    """Runs a ``LocalDeployer`` in the foreground, like a service manager would."""

    def __init__(self, app: App, topology: Topology, import_path: str,
                 rundir: Path | None = None, call: str | None = None,
                 out: Callable[[str], None] = print,
                 on_ready: Callable[[LocalDeployer], Coroutine[Any, Any, None]] | None = None,
                 ) -> None:
        self.rundir = rundir or default_rundir(app.name)
        self.deployer = LocalDeployer(app, topology, import_path=import_path, rundir=self.rundir)
        self.call = call
        self.out = out
        self.on_ready = on_ready
        self.signals: asyncio.Queue[signal.Signals] = asyncio.Queue()
        self.should_exit = False

    async def run(self) -> int:
        self._refuse_second_instance()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.signals.put_nowait, sig)
        await self.deployer.start()
        self.out(self.describe())
        if self.call:
            try:
                await invoke(self.deployer, self.call, self.out)
            except Exception as exc:
                self.out(f"call failed: {type(exc).__name__}: {exc}")
        if self.on_ready is not None:
            ready = asyncio.create_task(self.on_ready(self.deployer))
            ready.add_done_callback(self._report)
        self.out("serving; press Ctrl-C to stop")
        while not self.should_exit:
            sig = await self.signals.get()
            getattr(self, f"handle_{sig.name.lower()}")()
        await self.deployer.stop()
        return 0

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.out(f"startup task failed: {type(error).__name__}: {error}")

    def handle_sigint(self) -> None:
        self.out("stopping: finishing calls in flight (Ctrl-C again does not hurry it)")
        self.should_exit = True

    def handle_sigterm(self) -> None:
        self.should_exit = True

    def describe(self) -> str:
        rows = [f"app '{self.deployer.app.name}', topology '{self.deployer.topology.name}', "
                f"rundir {self.rundir}"]
        for group in self.deployer.topology.groups:
            pids = [str(self.deployer.pid(group.name, i)) for i in range(group.replicas)]
            rows.append(f"  group {group.name:<16} x{group.replicas}  "
                        f"pids {','.join(pids):<14} {', '.join(group.components)}")
        return "\n".join(rows)

    def _refuse_second_instance(self) -> None:
        socket = self.rundir / CONTROL_SOCKET
        if socket.exists() and _is_listening(socket):
            raise DeployError(f"'{self.deployer.app.name}' is already running with rundir "
                              f"{self.rundir}; stop it or pass --rundir")


def _is_listening(path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


if sys.platform == "win32":  # pragma: no cover
    raise ImportError("the local deployer needs a POSIX system")
