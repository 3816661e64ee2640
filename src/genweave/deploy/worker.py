"""A group replica's process: host the group, serve it, follow the supervisor.

Started by the local supervisor as ``python -m genweave.deploy.worker`` with
its ``WorkerSpec`` in the ``GENWEAVE_WORKER`` environment variable.  It exits
when told to (SIGTERM: refuse new calls, finish in-flight ones, run ``on_stop``)
and also when its supervisor disappears, so no process is ever orphaned.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from typing import Final

import msgspec

from genweave._aio import loop_factory
from genweave.application import load_app
from genweave.deploy.attach import ControlLink, SupervisedRuntime
from genweave.deploy.control import WORKER_ENV, WorkerSpec
from genweave.runtime.host import Host
from genweave.runtime.router import Router
from genweave.transport.endpoints import listen

__all__ = ["Worker", "main"]

_PR_SET_PDEATHSIG: Final = 1
_CONTROL_LOST: Final = "control-lost"

logger = logging.getLogger("genweave.worker")


class Worker:
    """The main loop of a replica: signals, or losing the supervisor, only enqueue an event;
    the loop serves until the first one, then drains and stops."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.where = f"{spec.group}/{spec.replica}"
        self.events: asyncio.Queue[signal.Signals | str] = asyncio.Queue()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.events.put_nowait, sig)
        spec, app = self.spec, load_app(self.spec.app)
        link = ControlLink(app.name, spec.control, self.where)
        control = link.control
        router = Router(app.name, self.where, link.membership,
                        max_message_bytes=spec.topology.max_message_bytes,
                        limits=spec.topology.limits())
        runtime = SupervisedRuntime(app, spec.topology, self.where, link, router)
        host = Host.for_group(app, spec.topology, spec.group, router, runtime, spec.variant)
        await host.start()
        dispatcher = host.dispatcher(self.where, spec.topology.group(spec.group).max_in_flight)
        server, address = await listen(spec.listen, dispatcher)
        link.follow(on_lost=lambda: self.events.put_nowait(_CONTROL_LOST))
        await control.register(spec.group, spec.replica, address, os.getpid())
        logger.info("ready at %s", address)
        event = await self.events.get()
        logger.info("stopping (%s): finishing calls in flight", getattr(event, "name", event))
        if event != _CONTROL_LOST:
            try:
                await control.draining(spec.group, spec.replica)
            except Exception:
                logger.warning("could not tell the supervisor that this replica drains")
        if server is not None:
            server.close()
        finished = await dispatcher.drain(spec.grace)
        if not finished:
            logger.warning("%d calls still running after %.1fs grace", dispatcher.in_flight,
                           spec.grace)
        await host.stop()
        await router.close()
        await link.close()
        return 0


def _die_with_parent(supervisor_pid: int) -> None:
    """Ask Linux to SIGTERM us if the supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # it died before prctl took effect
        sys.exit("genweave worker: supervisor is gone")


def main() -> int:
    """Run the replica described by ``$GENWEAVE_WORKER`` until it is told to stop."""
    spec = msgspec.json.decode(os.environ[WORKER_ENV], type=WorkerSpec)
    _die_with_parent(spec.supervisor_pid)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(Worker(spec).run())


if __name__ == "__main__":
    sys.exit(main())
