"""Call policies as pure rules: when to try again, when a circuit opens, what a Ref declares."""

from __future__ import annotations

import pytest

from genweave import (
    CircuitOpen,
    ComponentError,
    ConnectionLost,
    DeadlineExceeded,
    InvalidArgument,
    Overloaded,
    Unavailable,
)
from genweave.errors import CallError
from genweave.resilience import (
    Bulkhead,
    CircuitBreaker,
    CircuitSettings,
    NextTry,
    RefPolicy,
    RetryPolicy,
    is_outage,
    policy_for,
)


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_attempts_count_every_try_the_first_included(attempts: int) -> None:
    policy = RetryPolicy(attempts=attempts)
    refusal = Unavailable("no ready replica")
    tries = 1
    while policy.next_try(refusal, tries, idempotent=False) is not None:
        tries += 1
    assert tries == attempts


def test_a_refusal_is_retried_after_a_backoff_that_grows_to_its_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=0.3)
    for attempt, cap in [(1, 0.1), (2, 0.2), (3, 0.3), (6, 0.3)]:
        plans = [policy.next_try(Unavailable("draining"), attempt, idempotent=False)
                 for _ in range(200)]
        assert all(p is not None and not p.elsewhere and 0 <= p.delay <= cap for p in plans)
        assert max(p.delay for p in plans if p is not None) > cap / 2  # jittered over the range


def test_an_overloaded_refusal_is_retried_at_once_on_another_replica() -> None:
    policy = RetryPolicy(attempts=3, base_delay=1.0)
    assert policy.next_try(Overloaded("at its limit"), 1, idempotent=False) == NextTry(
        0.0, elsewhere=True)
    assert policy.next_try(Overloaded("at its limit"), 3, idempotent=False) is None


def test_a_call_lost_mid_flight_is_retried_only_when_idempotent() -> None:
    policy = RetryPolicy()
    lost = ConnectionLost("connection to the callee was lost")
    assert policy.next_try(lost, 1, idempotent=True) is not None
    assert policy.next_try(lost, 1, idempotent=False) is None


@pytest.mark.parametrize("error", [
    DeadlineExceeded("too slow"),
    ComponentError("raised"),
    InvalidArgument("bad"),
    CallError("unknown"),
])
def test_a_call_that_may_have_run_or_cannot_succeed_is_not_retried(error: CallError) -> None:
    assert RetryPolicy(attempts=5).next_try(error, 1, idempotent=True) is None


def test_outages_are_unavailability_and_deadlines_not_application_errors() -> None:
    assert is_outage(Unavailable("down")) and is_outage(CircuitOpen("open"))
    assert is_outage(DeadlineExceeded("slow"))
    assert not is_outage(ComponentError("raised")) and not is_outage(ValueError("bad"))


def test_a_refs_own_policy_wins_over_its_targets() -> None:
    own, shared = RefPolicy(timeout=1.0), RefPolicy(timeout=5.0)
    refs = {"Assistant.llm": own, "Generator": shared}
    assert policy_for(refs, "Assistant", "llm", "Generator") is own
    assert policy_for(refs, "Assistant", "backup", "Generator") is shared
    assert policy_for(refs, "Assistant", "store", "Store") is None


def test_retries_in_a_ref_policy_are_extra_attempts() -> None:
    assert RefPolicy(retries=2).retry().attempts == 3
    assert RefPolicy(retries=0).retry().attempts == 1
    assert RefPolicy().retry() == RetryPolicy()


def test_circuit_breaker_states() -> None:
    now = [0.0]
    breaker = CircuitBreaker(CircuitSettings(failures=2, reset_after=1.0), clock=lambda: now[0])
    assert breaker.state == "closed" and breaker.allow()
    breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.retry_after() == 1.0
    now[0] = 1.0
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failed()  # the trial failed: open again, for another reset_after
    assert breaker.state == "open"
    now[0] = 2.5
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(CircuitSettings(failures=2, reset_after=1.0), clock=lambda: 0.0)
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == "closed"


def test_a_cancelled_trial_lets_the_next_one_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(CircuitSettings(failures=1, reset_after=1.0), clock=lambda: now[0])
    breaker.failed()
    now[0] = 1.0
    assert breaker.allow()
    breaker.released()
    assert breaker.allow()


def test_bulkhead() -> None:
    bulkhead = Bulkhead(2)
    assert bulkhead.try_enter() and bulkhead.try_enter() and not bulkhead.try_enter()
    bulkhead.leave()
    assert bulkhead.try_enter()
