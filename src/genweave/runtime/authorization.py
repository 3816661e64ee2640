"""Who may call whom: least privilege read from the code, the one rule every enforcer shares.

A component calls another only through a Ref it declares, so the Ref graph,
placed on the topology's groups, says which calls ever cross the network:

- a group that hosts a component with a Ref to a component of another group
  calls that component (calls inside a group are direct, never over the network);
- a group whose callers have a fallback component for a Ref (``[refs.X]
  fallback = { component = "Spare" }``) calls the spare too;
- a group hosting a component that declares ``runtime: Runtime`` collects
  status and metrics from every replica (the gateway's ``/metrics`` and live
  view): it calls ``genweave.Admin`` everywhere, its own other replicas included;
- the deployer's control identity (``CONTROL``: the supervisor, ``genweave
  call``, ``genweave status``) calls anything.

Who the caller is comes from its handshake, believed only as far as the
transport proves it (``proven_identity``): over TLS the client certificate's
``spiffe://genweave/APP/IDENTITY`` names it and the handshake must agree; over
a Unix socket the peer must run as the socket's owner (``SO_PEERCRED``), whom
the run directory's mode already limits it to; plain TCP proves nothing, so the
handshake is taken at its word there (use mutual TLS across machines).

``granted_calls`` is the rule at the grain of a call (caller group, callee
component): a replica checks each incoming call against it with one set lookup.
``allowed_callers`` is the same rule at the grain of a connection (caller group
-> callee group): the Kubernetes export builds NetworkPolicies from it.
Variants are replicas of their group, so they are covered both ways.
"""

from __future__ import annotations

from typing import Final

from genweave.application import App
from genweave.component import injected_annotations
from genweave.errors import PermissionDenied
from genweave.runtime.introspect import Runtime
from genweave.topology import Topology
from genweave.transport.peer import Peer
from genweave.transport.tls import identity_uri

__all__ = [
    "ADMIN",
    "CONTROL",
    "Grant",
    "allowed_callers",
    "callee_grants",
    "granted_calls",
    "identity_of",
    "proven_identity",
]

ADMIN: Final = "genweave.Admin"
"""The component every replica serves beside the group's own (status, metrics, load)."""
CONTROL: Final = "@control"
"""The deployer's identity; never a group's name (those match ``[a-z0-9][a-z0-9_-]*``)."""

Grant = tuple[str, str]
"""(caller group or ``CONTROL``, callee component)."""


def granted_calls(app: App, topology: Topology) -> frozenset[Grant]:
    """Every (caller group, callee component) pair the Ref graph allows over the network.

    ``CONTROL`` is implied (see ``callee_grants``), not listed.

    Example::

        ("frontend", "Greeter") in granted_calls(hello, preset("microservices", hello))  # True
    """
    calls = app.dependencies()
    for key, policy in topology.refs.items():
        if policy.fallback is None or policy.fallback.component is None:
            continue
        for caller in _callers_of_ref(app, key):
            calls[caller].add(policy.fallback.component)
    group_of = {name: topology.group_of(name).name for name in app.components}
    grants = {(group_of[caller], target)
              for caller, targets in calls.items() for target in targets
              if group_of[target] != group_of[caller]}
    grants.update((group_of[name], ADMIN) for name, spec in app.components.items()
                  if _declares_runtime(spec.cls, name))
    return frozenset(grants)


def allowed_callers(app: App, topology: Topology) -> dict[str, tuple[str, ...]]:
    """Group name -> the groups that may open connections to it, sorted.

    Example::

        allowed_callers(app, preset("microservices", app))["greeter"]   # ("frontend",)
    """
    group_of = {name: topology.group_of(name).name for name in app.components}
    callers: dict[str, set[str]] = {g.name: set() for g in topology.groups}
    for caller, component in granted_calls(app, topology):
        targets = callers.values() if component == ADMIN else (callers[group_of[component]],)
        for group in targets:
            group.add(caller)
    return {group: tuple(sorted(names)) for group, names in callers.items()}


def callee_grants(grants: frozenset[Grant], served: tuple[str, ...]) -> frozenset[Grant]:
    """What one replica serving ``served`` components accepts: its share of ``grants``,
    and ``CONTROL`` for every one of them, so that each check is a single set lookup."""
    mine = set(served)
    return frozenset({g for g in grants if g[1] in mine} | {(CONTROL, name) for name in served})


def identity_of(caller: str) -> str:
    """The identity a caller names in its handshake: ``group/replica`` -> the group;
    a name without a group (``client``, ``supervisor``) is the deployer's ``CONTROL``."""
    group, slash, _ = caller.partition("/")
    return group if slash else CONTROL


def proven_identity(app: str, caller: str, peer: Peer, owner_uid: int) -> str:
    """The identity to check ``caller``'s calls against, as far as ``peer`` proves it.

    Raises ``PermissionDenied`` when the proof contradicts the claim: a Unix peer
    running as another user, a certificate of another app, or one naming
    another group than the handshake does.
    """
    claimed = identity_of(caller)
    if peer.uid is not None and peer.uid != owner_uid:
        raise PermissionDenied(f"connection from uid {peer.uid} (pid {peer.pid}) refused: only "
                               f"uid {owner_uid}, the owner of this deployment, may connect")
    if not peer.tls:
        return claimed
    prefix = identity_uri(app, "")
    proven = [uri.removeprefix(prefix) for uri in peer.certificate_uris
              if uri.startswith(prefix)]
    if not proven:
        raise PermissionDenied(f"the certificate of {peer.address} names "
                               f"{', '.join(peer.certificate_uris) or 'no identity'}, not an "
                               f"identity of app '{app}'; issue one with 'genweave certs issue'")
    if claimed not in proven:
        raise PermissionDenied(f"{peer.address} says it is '{caller}' but its certificate "
                               f"proves {', '.join(proven)}")
    return claimed


def _callers_of_ref(app: App, key: str) -> list[str]:
    """The components whose calls a ``[refs.KEY]`` policy covers (``Target`` or ``Caller.ref``)."""
    caller, dot, _ = key.partition(".")
    if dot:
        return [caller]
    return [name for name, spec in app.components.items()
            if any(app.spec(target).name == key for target in spec.refs.values())]


def _declares_runtime(cls: type, name: str) -> bool:
    return any(isinstance(hint, type) and issubclass(hint, Runtime)
               for hint in injected_annotations(cls, name).values())
