"""The rules table, as pure functions."""

from __future__ import annotations

import pytest

from reliability.health.degradation.levels import Level
from reliability.health.degradation.rules import Inputs, compute_level


@pytest.mark.parametrize(("probes", "breakers", "expected"), [
    ({}, {}, Level.NORMAL),
    ({"database": "ok", "redis": "ok", "broker": "ok"}, {"pay": "closed"}, Level.NORMAL),
    ({}, {"pay": "open"}, Level.MINOR),
    ({}, {"pay": "half_open", "mail": "forced_open"}, Level.MODERATE),
    ({"disk": "warn"}, {}, Level.MINOR),
    ({"workers": "fail"}, {}, Level.MODERATE),
    ({"workers": "fail", "queue_depth": "fail", "outbox": "fail"}, {}, Level.SEVERE),
    ({"redis": "fail"}, {}, Level.SEVERE),
    ({"broker": "fail"}, {}, Level.SEVERE),
    ({"database": "fail"}, {"pay": "open"}, Level.CRITICAL),
    ({"database": "warn"}, {}, Level.MINOR),
    ({}, {"pay": "disabled"}, Level.NORMAL),
])
def test_the_table(probes, breakers, expected):
    level, reasons = compute_level(Inputs(probes=probes, breakers=breakers))
    assert level == expected
    assert bool(reasons) == (expected != Level.NORMAL)


def test_reasons_name_what_matched():
    level, reasons = compute_level(Inputs(probes={"workers": "fail"}, breakers={"pay": "open"}))
    assert level == Level.MODERATE
    assert "MODERATE: a probe failing (workers)" in reasons
    assert "MINOR: a breaker refusing calls (pay)" in reasons


@pytest.mark.parametrize(("value", "level"), [(3, Level.SEVERE), ("3", Level.SEVERE), ("severe", Level.SEVERE),
                                              ("CRITICAL", Level.CRITICAL), (" minor ", Level.MINOR)])
def test_level_parse(value, level):
    assert Level.parse(value) == level


@pytest.mark.parametrize("value", [5, -1, "HIGH", "", None, True, 2.5, []])
def test_level_parse_refuses(value):
    with pytest.raises(ValueError):
        Level.parse(value)
