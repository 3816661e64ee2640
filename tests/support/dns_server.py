"""A small DNS server for tests: answers A records from a JSON file it reads on every query.

Run as ``python dns_server.py ADDRESS RECORDS.json``; it serves UDP port 53 on
ADDRESS and prints ``serving`` once it does.  The file maps fully qualified
names (``sample-model.ns.svc.cluster.local.``) to lists of pods, as a
Kubernetes headless Service answers with its ready pods; a test rewrites it
to add or drop a replica.  A name that is not there does not exist (NXDOMAIN).

A pod is ``"IP"`` (always answered) or ``"IP:PORT"``: answered while
``http://IP:PORT/readyz`` answers 200, asked every ``PERIOD`` seconds (the
exported readinessProbe's ``periodSeconds``, with ``failureThreshold: 1``)
with a bounded timeout, as Kubernetes' endpoints controller follows the
kubelet's readiness probes.  Until its first probe passes, a pod is not ready.
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

PORT: Final = 53
TTL: Final = 0
"""Kubernetes' headless Services answer with short TTLs; 0 keeps every resolver from caching."""
PERIOD: Final = 2.0
PROBE_TIMEOUT: Final = 1.0


class Readiness:
    """The pods (``IP:PORT``) whose ``/readyz`` answered 200 at their last probe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ready: frozenset[str] = frozenset()
        self._probes = ThreadPoolExecutor(8)

    def probe_forever(self) -> None:
        while True:
            pods = {pod for listed in _records(self.path).values() for pod in listed
                    if ":" in pod}
            self.ready = frozenset(pod for pod, ok in zip(
                pods, self._probes.map(_ready, pods), strict=True) if ok)
            threading.Event().wait(PERIOD)

    def answers(self, pods: list[str]) -> list[str]:
        return [pod.partition(":")[0] for pod in pods if ":" not in pod or pod in self.ready]


_DIRECT: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxy from the environment: the probes go straight to the pods."""


def _ready(pod: str) -> bool:
    try:
        with _DIRECT.open(f"http://{pod}/readyz", timeout=PROBE_TIMEOUT) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _records(path: Path) -> dict[str, list[str]]:
    records: dict[str, list[str]] = json.loads(path.read_text())
    return records


class FileResolver(BaseResolver):
    def __init__(self, path: Path, readiness: Readiness) -> None:
        self.path = path
        self.readiness = readiness

    def resolve(self, request: Any, handler: DNSHandler) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower()
        records = _records(self.path)
        if name not in records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            for ip in self.readiness.answers(records[name]):
                reply.add_answer(RR(name, QTYPE.A, rdata=A(ip), ttl=TTL))
        return reply  # other types of a known name: no data


def main() -> None:
    address, path = sys.argv[1], Path(sys.argv[2])
    readiness = Readiness(path)
    threading.Thread(target=readiness.probe_forever, daemon=True).start()
    server = DNSServer(FileResolver(path, readiness), address=address, port=PORT,
                       logger=DNSLogger(log="-request,-reply,-truncated,-data"))
    server.start_thread()
    print("serving", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
