"""A stand-in for ``genweave.deploy.worker``, for supervisor tests: no app, no sockets.

The ``WorkerSpec``'s ``app`` field says how to behave:

- ``ready-then-exit``: print ``ready`` and exit with code 1 (a crash after start);
- ``exit-early``: print ``cannot start`` and exit with code 3, never ready;
- ``serve``: print ``ready``, then on SIGTERM print ``draining`` and exit 0;
- ``stubborn``: print ``ready`` and ignore SIGTERM (it must be killed).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import msgspec

from genweave.deploy.control import WORKER_ENV, WorkerSpec


def main() -> int:
    spec = msgspec.json.decode(os.environ[WORKER_ENV], type=WorkerSpec)
    mode = spec.app
    if mode == "exit-early":
        print("cannot start", flush=True)
        return 3
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "serve":
        def drain(signum: int, frame: object) -> None:
            print("draining", flush=True)
            sys.exit(0)

        signal.signal(signal.SIGTERM, drain)
    print(f"ready pid {os.getpid()}", flush=True)
    if mode == "ready-then-exit":
        return 1
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
