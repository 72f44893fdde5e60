"""The kit's text sanitising and its one time-bound parser."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from opsportal.common.text import clean_text, has_nul
from opsportal.common.timebounds import TimeBoundError, parse_duration, parse_since, parse_time_bound

NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


def test_clean_text_replaces_nul_and_cuts():
    assert clean_text("a\x00b") == "a\ufffdb"
    assert clean_text("abcdef", 3) == "abc"
    assert clean_text(None) == ""
    assert clean_text(42) == "42"
    assert clean_text("x\x00" * 5, 4) == "x\ufffdx\ufffd"


def test_has_nul_only_for_strings():
    assert has_nul("a\x00") and not has_nul("a") and not has_nul(None)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h", 3600), ("2d", 172_800), ("90s", 90), (" 1w ", 604_800)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds
    assert parse_since(text, now=NOW) == NOW - dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-1h", "0m", "1.5h", "99999999d", "1h30m", "１h", None])
def test_bad_durations_are_refused_with_a_readable_message(text):
    with pytest.raises(TimeBoundError, match="duration|positive|at most"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-01T10:00:00Z", dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)),
        ("2026-05-01T12:00:00+02:00", dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)),
        ("2026-05-01", dt.datetime(2026, 5, 1, tzinfo=dt.UTC)),
        ("2026-05-01T10:00:00", dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)),  # naive: TIME_ZONE (UTC)
        ("1h", NOW - dt.timedelta(hours=1)),
    ],
)
def test_time_bounds(text, expected):
    assert parse_time_bound(text, now=NOW) == expected


def test_naive_instants_are_read_in_the_current_time_zone():
    with timezone.override("Europe/Berlin"):
        assert parse_time_bound("2026-05-01T12:00:00") == dt.datetime(2026, 5, 1, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30", "2026-13-01", "", "1y", "x" * 500, "2026-05-01T25:00:00"])
def test_what_is_not_a_time_bound_says_what_is(text):
    with pytest.raises(TimeBoundError) as exc:
        parse_time_bound(text, now=NOW)
    assert isinstance(exc.value, ValueError)
    assert "duration" in str(exc.value) or "ISO 8601" in str(exc.value)


def test_durations_can_be_switched_off():
    with pytest.raises(TimeBoundError):
        parse_time_bound("1h", durations=False)
