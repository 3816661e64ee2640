"""The worker command every pod runs, and the ports and paths it relies on.

One way to run a replica: the container runs ``genweave worker`` for one
group, exactly as it would run anywhere else::

    genweave worker MODULE:APP --group NAME --topology /etc/genweave/topology.toml
        --listen tcp:0.0.0.0:7070 --advertise $(POD_IP):7070 --discovery dns
        --probe-port 8080 --grace SECONDS

It serves calls on 7070, and ``/healthz``, ``/readyz`` and ``/metrics`` on
8080; it finds other groups through their headless Services (DNS) and tells
them its own address from the pod's IP (``POD_IP``, from the downward API:
Kubernetes expands ``$(POD_IP)`` in the arguments).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "POD_IP_ENV",
    "PROBE_PORT",
    "RPC_PORT",
    "TOPOLOGY_DIR",
    "TOPOLOGY_FILE",
    "TOPOLOGY_PATH",
    "worker_command",
]

RPC_PORT: Final = 7070
"""Where every replica serves genweave calls."""
PROBE_PORT: Final = 8080
"""Where every replica serves ``/healthz``, ``/readyz`` and ``/metrics``."""
TOPOLOGY_DIR: Final = "/etc/genweave"
TOPOLOGY_FILE: Final = "topology.toml"
TOPOLOGY_PATH: Final = f"{TOPOLOGY_DIR}/{TOPOLOGY_FILE}"
"""Where the topology ConfigMap is mounted in every pod."""
POD_IP_ENV: Final = "POD_IP"


def worker_command(import_path: str, group: str, grace: float,
                   variant: str | None = None) -> list[str]:
    """The container command of one group's replicas (of one of its variants, if given).

    Example::

        worker_command("examples.hello:app", "greeter", 10.0)[:4]
        # ['genweave', 'worker', 'examples.hello:app', '--group']
    """
    command = [
        "genweave", "worker", import_path,
        "--group", group,
        "--topology", TOPOLOGY_PATH,
        "--listen", f"tcp:0.0.0.0:{RPC_PORT}",
        "--advertise", f"$({POD_IP_ENV}):{RPC_PORT}",
        "--discovery", "dns",
        "--probe-port", str(PROBE_PORT),
        "--grace", f"{grace:g}",
    ]
    if variant is not None:
        command += ["--variant", variant]
    return command
