"""The live view's rate window does not shrink when several clients poll."""

from __future__ import annotations

import collections

from genweave.app.gateway import STATUS_WINDOW, Gateway
from genweave.observe.summary import Totals


def test_rates_are_measured_over_at_least_the_window() -> None:
    gateway = Gateway()
    gateway._samples = collections.deque(Totals(at, {}) for at in (10.0, 10.4, 10.9, 11.2))
    assert gateway._window_start(Totals(11.3, {})) == Totals(10.0, {})
    assert gateway._window_start(Totals(10.0 + 2 * STATUS_WINDOW, {})).at == 10.9
    gateway._samples.clear()
    assert gateway._window_start(Totals(5.0, {})) is None
