"""Which groups may open connections to which, for the NetworkPolicies.

The rule is the runtime's own (``genweave.runtime.authorization``): every
replica checks each incoming call against the same Ref graph, so the network
policy and the callee's check can never disagree.
"""

from __future__ import annotations

from genweave.runtime.authorization import allowed_callers

__all__ = ["allowed_callers"]
