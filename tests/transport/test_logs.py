"""Repeated warnings are written at a bounded rate and say how many were left out."""

from __future__ import annotations

import logging

import pytest

from genweave.transport.logs import RateLimitedLog


def test_a_flood_writes_a_burst_per_period_then_counts_what_it_left_out(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("test.flood"), burst=3, period=10.0,
                         clock=lambda: now[0])
    written = [log.warning("bad frame %d", i) for i in range(100)]
    assert written.count(True) == 3
    assert log.suppressed == 97
    now[0] = 10.0
    assert log.warning("bad frame %d", 100)
    assert caplog.messages[-1] == "bad frame 100 (97 similar lines left out)"
    assert log.suppressed == 0
