"""Three groups for the security tests: ``teller`` holds a Ref to ``Vault``; ``lobby`` holds none.

So the Ref graph grants ``teller -> Vault`` and nothing else: a call from the
lobby's identity to the vault must be refused, one from the teller's served.
"""

from __future__ import annotations

from genweave import App, Ref, component
from genweave.topology import Group, Topology


@component(name="Vault")
class Vault:
    async def secret(self) -> str:
        return "42"


@component(name="Teller")
class Teller:
    vault: Ref[Vault]


@component(name="Lobby")
class Lobby:
    async def enter(self) -> str:
        return "hi"


APP = App("bank", [Teller, Vault, Lobby])
TOPOLOGY = Topology("t", (Group("teller", ("Teller",)), Group("vault", ("Vault",)),
                          Group("lobby", ("Lobby",))))
