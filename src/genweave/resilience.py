"""Call policies: how long to wait, when to try again, and when not to try at all.

Retries are only ever automatic where they cannot duplicate work: a call that
was refused before it started (no replica, connect failure, draining or
overloaded callee), or a call to a method declared ``idempotent`` whose
connection broke mid-call.  ``RetryPolicy.next_try`` is that rule, and the
router's one retry loop follows it for unary calls and streams alike.

The rest isolates a caller from a failing callee, per Ref, as declared in the
topology file (``[refs.TARGET]`` or ``[refs."Caller.attribute"]``)::

    [refs.Illustrator]
    timeout = 5.0                              # seconds per call through this Ref
    retries = 2                                # extra attempts, where safe (see above)
    bulkhead = 8                               # at most 8 calls in flight; more fail at once
    circuit = { failures = 5, reset_after = 2.0 }
    fallback = { values = { draw = "..." } }   # or { component = "SpareIllustrator" }
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec

from genweave.errors import CallError, ConnectionLost, DeadlineExceeded, Overloaded, Unavailable

__all__ = [
    "Bulkhead",
    "CircuitBreaker",
    "CircuitSettings",
    "FallbackSettings",
    "NextTry",
    "RefPolicy",
    "RetryPolicy",
    "is_outage",
    "policy_for",
]

Positive = Annotated[float, msgspec.Meta(gt=0)]


@dataclass(frozen=True, slots=True)
class NextTry:
    """How to make the next try of a call: after ``delay`` seconds, and where."""

    delay: float
    elsewhere: bool = False
    """Only on a replica that has not refused this call (else the call fails now)."""


AT_ONCE_ELSEWHERE: Final = NextTry(0.0, elsewhere=True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with full-jitter exponential backoff.

    ``attempts`` counts every try, the first included: ``attempts=3`` is at most
    three tries, each retry after its backoff, all within the call's one deadline.

    Example::

        policy = RetryPolicy(attempts=3)
        policy.next_try(Unavailable("no ready replica"), attempt=1, idempotent=False)
        # NextTry(delay=0.013..., elsewhere=False)
    """

    attempts: int = 3
    base_delay: float = 0.02
    max_delay: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def should_retry(self, error: CallError, attempt: int, idempotent: bool) -> bool:
        """Whether try number ``attempt``, which failed with ``error``, may have a successor."""
        if attempt >= self.attempts:
            return False
        if isinstance(error, ConnectionLost):
            return idempotent
        return isinstance(error, Unavailable)

    def next_try(self, error: CallError, attempt: int, idempotent: bool) -> NextTry | None:
        """How to try again after try number ``attempt`` failed with ``error``; ``None``: don't.

        A replica that refused as ``Overloaded`` is at its limit of calls in flight:
        asking it again would only add to its load and to the caller's wait, and
        waiting would not help the caller.  So that call goes at once to another
        replica, never back to one that refused it.  Any other retry waits its
        backoff and may go back to the same replica (the only one, restarted).
        """
        if not self.should_retry(error, attempt, idempotent):
            return None
        if isinstance(error, Overloaded):
            return AT_ONCE_ELSEWHERE
        return NextTry(self.delay(attempt))


DEFAULT_RETRY: Final = RetryPolicy()


def is_outage(error: BaseException) -> bool:
    """A failure of the callee's availability, not of the request itself.

    These count against a circuit breaker and trigger fallbacks; an exception
    the method raised (bad input, a bug) does neither.
    """
    return isinstance(error, Unavailable | DeadlineExceeded)


class CircuitSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    failures: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Consecutive outages that open the circuit."""
    reset_after: Positive = 5.0
    """Seconds the circuit stays open before one trial call is let through (half-open)."""


class FallbackSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True,
                       omit_defaults=True):
    """What a call gets instead of an outage: another component's answer, or a fixed value."""

    component: str | None = None
    """A component with the same methods (by name and shape), called instead."""
    values: dict[str, Any] = {}
    """Method name -> value returned (a list of items for a streaming method)."""


class RefPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """How calls through one Ref behave when the callee is slow, busy or down."""

    timeout: Positive | None = None
    retries: Annotated[int, msgspec.Meta(ge=0)] | None = None
    bulkhead: Annotated[int, msgspec.Meta(ge=1)] | None = None
    circuit: CircuitSettings | None = None
    fallback: FallbackSettings | None = None

    def retry(self) -> RetryPolicy:
        if self.retries is None:
            return DEFAULT_RETRY
        return RetryPolicy(attempts=self.retries + 1)


def policy_for(refs: Mapping[str, RefPolicy], caller: str, attribute: str,
               target: str) -> RefPolicy | None:
    """The policy of the Ref ``caller.attribute``: its own entry, else its target's."""
    return refs.get(f"{caller}.{attribute}") or refs.get(target)


CircuitState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Stops calling a callee that keeps failing, and probes it until it recovers.

    Closed: calls pass; ``failures`` consecutive outages open it.  Open: calls
    fail at once with ``CircuitOpen`` for ``reset_after`` seconds.  Half-open:
    one trial call passes; success closes the circuit, failure opens it again.
    """

    def __init__(self, settings: CircuitSettings,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.settings.reset_after:
            return "half-open"
        return "open"

    def retry_after(self) -> float:
        """Seconds until the circuit lets a trial call through (0 when it does now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.settings.reset_after - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, only one at a time does."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._trial:
            return False
        self._trial = True
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failed(self) -> None:
        self._trial = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.settings.failures:
            self._opened_at = self._clock()

    def released(self) -> None:
        """A call let through ended with neither verdict (e.g. the method raised)."""
        self._trial = False


class Bulkhead:
    """At most ``limit`` calls in flight through one Ref; the rest are refused at once."""

    __slots__ = ("in_flight", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def try_enter(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1
