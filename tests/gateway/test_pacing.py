"""The pure rules of reading a request: a body's deadline, and whose read gives way."""

from __future__ import annotations

import pytest

from genweave.gateway.pacing import BodyPace, OldestFirst


def test_a_body_gets_the_timeout_and_one_second_per_min_rate_bytes() -> None:
    pace = BodyPace(timeout=10.0, min_rate=1024)
    assert pace.deadline(started=100.0, received=0) == 110.0
    assert pace.deadline(started=100.0, received=2048) == 112.0


def test_a_trickle_runs_out_of_time_while_a_fair_rate_never_does() -> None:
    pace = BodyPace(timeout=2.0, min_rate=100)
    # One byte a second: each buys 10 ms, so the deadline stays near start + 2 s.
    trickle = [pace.deadline(0.0, received=second) for second in range(5)]
    assert all(deadline < 2.1 for deadline in trickle)
    assert any(second >= deadline for second, deadline in enumerate(trickle))
    # 200 bytes a second (twice the floor): the deadline always stays ahead.
    fair = [(second, pace.deadline(0.0, received=200 * second)) for second in range(60)]
    assert all(deadline > second for second, deadline in fair)


def test_places_are_given_until_full_then_the_oldest_gives_way() -> None:
    slots = OldestFirst[str](capacity=2)
    assert slots.take("a") is None and slots.take("b") is None
    assert slots.take("c") == "a"
    assert slots.take("d") == "b"
    assert len(slots) == 2


def test_a_released_place_is_free_again_and_releasing_twice_is_harmless() -> None:
    slots = OldestFirst[str](capacity=2)
    slots.take("a")
    slots.take("b")
    slots.release("a")
    slots.release("a")  # displaced earlier, released by its reader later
    assert slots.take("c") is None
    assert slots.take("d") == "b"


@pytest.mark.parametrize("capacity", [1, 3])
def test_the_newcomer_itself_is_never_displaced(capacity: int) -> None:
    slots = OldestFirst[int](capacity=capacity)
    for key in range(10):
        assert slots.take(key) != key
    assert len(slots) == capacity
