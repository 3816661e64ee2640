"""Hosts without a cluster: network namespaces joined by veth pairs to one bridge.

A ``Network`` is a namespace holding a Linux bridge (the "switch") with an
address of its own, and any number of ``Pod`` namespaces, each with one veth
pair whose far end is plugged into that bridge, its own address from a
private range (``10.232.0.0/24``) and its own ``/etc/netns/<ns>/resolv.conf``
(a Kubernetes-like search domain, the nameserver on the switch).  As in a
cluster, every pod has its own network namespace, so replicas that all listen
on ``0.0.0.0:7070`` never collide; a "host" is the set of pods placed on it,
so a host dies by killing every process of its pods.  The addresses exist only
inside these namespaces: the namespace the tests run in gets none.

Everything is made through iproute2 (``ip netns``, ``ip -n NS link``) and
``remove`` deletes it all (processes, namespaces with their veths and bridge,
resolver files) at any stage, so a fixture calls it in ``finally``.  Where
namespaces cannot be made (no root, no iproute2), ``unavailable`` fails under
CI and skips elsewhere, saying why.

Example::

    network = Network("gw-1234", search="ns.svc.cluster.local")
    network.create()
    pod = network.add_pod("core-0")
    subprocess.run([*pod.prefix, "ip", "addr"])   # 10.232.0.2/24 on eth0
    network.remove()
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Final, NoReturn

import pytest

__all__ = ["SUBNET", "Network", "Pod", "require_namespaces", "unavailable"]

SUBNET: Final = ipaddress.IPv4Network("10.232.0.0/24")
"""The pods' addresses; the switch holds the first one (the DNS server's)."""
ETC_NETNS: Final = Path("/etc/netns")


def unavailable(reason: str) -> NoReturn:
    """Fail under CI (where tests run as root), skip elsewhere, with ``reason``."""
    if os.environ.get("CI"):
        pytest.fail(f"network namespaces are needed under CI: {reason}")
    pytest.skip(reason)


def require_namespaces() -> None:
    """Check what namespaces need (root, iproute2) before anything is made."""
    if os.geteuid() != 0:
        unavailable("network namespaces need root")
    if shutil.which("ip") is None:
        unavailable("iproute2's 'ip' command is not installed")


def ip(*arguments: str) -> str:
    """Run ``ip ARGUMENTS``; a failure raises with iproute2's own message."""
    done = subprocess.run(["ip", *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(arguments)}: {done.stderr.strip()}")
    return done.stdout


class Pod:
    """One pod: a network namespace with an address on the switch and its own resolver."""

    def __init__(self, namespace: str, address: str, host: str) -> None:
        self.namespace = namespace
        self.address = address
        self.host = host
        self.etc = ETC_NETNS / namespace

    @property
    def prefix(self) -> list[str]:
        """What runs a command inside it (``ip netns exec`` also mounts its resolv.conf)."""
        return ["ip", "netns", "exec", self.namespace]

    def pids(self) -> list[int]:
        """Every process running in its network namespace now."""
        listed = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True,
                                text=True, check=False)
        return [int(pid) for pid in listed.stdout.split()]

    def kill(self) -> list[int]:
        """SIGKILL every process in it (as a host's power going off); the pids killed."""
        killed = self.pids()
        for pid in killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return killed


class Network:
    """A switch namespace with a bridge, and the pods plugged into it (see the module)."""

    def __init__(self, name: str, search: str) -> None:
        self.name = name
        self.search = search
        self.switch = f"{name}-net"
        self.hosts = SUBNET.hosts()
        self.gateway = str(next(self.hosts))
        self.pods: list[Pod] = []
        self._made: list[str] = []

    def create(self) -> None:
        """The switch: a namespace with bridge ``br0`` up at the subnet's first address."""
        self._namespace(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "addr", "add", f"{self.gateway}/{SUBNET.prefixlen}", "dev", "br0")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add_pod(self, label: str, host: str = "") -> Pod:
        """A new pod namespace on the switch, with the next free address."""
        pod = Pod(f"{self.name}-{len(self._made)}-{label}", str(next(self.hosts)), host)
        self._namespace(pod.namespace)
        pod.etc.mkdir(parents=True)
        (pod.etc / "resolv.conf").write_text(
            f"nameserver {self.gateway}\nsearch {self.search}\n"
            "options ndots:5 timeout:1 attempts:2\n")
        port = f"v{os.getpid() % 100000}-{len(self.pods)}"
        ip("-n", self.switch, "link", "add", port, "type", "veth",
           "peer", "name", "eth0", "netns", pod.namespace)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", pod.namespace, "addr", "add", f"{pod.address}/{SUBNET.prefixlen}", "dev", "eth0")
        for device in ("lo", "eth0"):
            ip("-n", pod.namespace, "link", "set", device, "up")
        self.pods.append(pod)
        return pod

    @property
    def switch_prefix(self) -> list[str]:
        """What runs a command on the switch (where the DNS server listens)."""
        return ["ip", "netns", "exec", self.switch]

    def _namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._made.append(name)

    def remove(self) -> None:
        """Kill every process in its namespaces, delete them (veths and bridge go with
        them) and their resolver files: safe at any stage, and again."""
        for pod in self.pods:
            pod.kill()
        for name in reversed(self._made):
            Pod(name, "", "").kill()
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            shutil.rmtree(ETC_NETNS / name, ignore_errors=True)
        self._made.clear()
