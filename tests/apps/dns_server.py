"""A small DNS server for tests: answers A records from a JSON file it reads on every query.

Run as ``python dns_server.py ADDRESS RECORDS.json``; it serves UDP port 53 on
ADDRESS and prints ``serving`` once it does.  The file maps fully qualified
names (``sample-model.ns.svc.cluster.local.``) to lists of IPv4 addresses, as
a Kubernetes headless Service answers with its ready pods; a test rewrites it
to add or drop a replica.  A name that is not there does not exist (NXDOMAIN).
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any, Final

from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

PORT: Final = 53
TTL: Final = 0
"""Kubernetes' headless Services answer with short TTLs; 0 keeps every resolver from caching."""


class FileResolver(BaseResolver):
    def __init__(self, path: Path) -> None:
        self.path = path

    def resolve(self, request: Any, handler: DNSHandler) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower()
        records: dict[str, list[str]] = json.loads(self.path.read_text())
        if name not in records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            for ip in records[name]:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(ip), ttl=TTL))
        return reply  # other types of a known name: no data


def main() -> None:
    address, path = sys.argv[1], Path(sys.argv[2])
    server = DNSServer(FileResolver(path), address=address, port=PORT,
                       logger=DNSLogger(log="-request,-reply,-truncated,-data"))
    server.start_thread()
    print("serving", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
