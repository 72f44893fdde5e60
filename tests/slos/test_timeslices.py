"""Timeslice budgeting with hand-computed expectations (issue #12).

Budget remaining = 1 − (bad slices / counted slices) / (1 − objective). Slices are aligned to the
Unix epoch (12:00, 12:05 … for 5-minute slices), a slice is good when good / total ≥ the target,
and a slice without events is not counted (docs/slos.md, docs/decisions.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reliability.slos.models import SLOStatus
from reliability.slos.services import correction_create, sli_buckets_upsert, slos_evaluate
from tests.slos.conftest import ACTOR, T0, fill

pytestmark = pytest.mark.django_db(transaction=False)
M = timedelta(minutes=1)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return T0.replace(hour=hh, minute=mm, second=ss)


def status(slo) -> SLOStatus:
    return SLOStatus.objects.get(slo=slo)


@pytest.fixture
def sliced(make_slo):
    """5-minute slices, 95 % per slice, 60 % of slices (budget: 40 % of slices may be bad), 7 days.

    11:00–12:00 (the current minute, 12:00, is a slice of one minute), 100 events a minute, except:
    11:09 all bad (slice 11:05: 400/500 → bad), 11:12 30 bad (11:10: 470/500 = 0.94 → bad),
    11:21 25 bad (11:20: 475/500 = 0.95 → good, the target itself), 11:30–11:34 4 % bad (0.96 → good),
    11:40–11:44 quiet (zero buckets: not counted), 11:52 all bad (11:50: 400/500 → bad).
    Counted: 12 slices, 3 bad → budget 1 − (3/12)/0.4 = 0.375.
    """
    slo = make_slo(slug="sliced", objective="60", window="7d", budgeting="timeslices", timeslice_minutes=5,
                   timeslice_target="95", min_events=10)
    fill(slo, at(11, 0), at(11, 40))
    fill(slo, at(11, 45), T0 + M)
    sli_buckets_upsert(slo_id=slo.pk, items=[(at(11, 40) + i * M, 0, 0) for i in range(5)]
                       + [(at(11, 9), 0, 100), (at(11, 12), 70, 100), (at(11, 21), 75, 100), (at(11, 52), 0, 100)]
                       + [(at(11, 30) + i * M, 96, 100) for i in range(5)])
    return slo


def test_bad_slices_spend_the_budget_and_an_empty_slice_counts_for_nothing(sliced):
    slos_evaluate(now=T0)
    st = status(sliced)
    assert st.budget_remaining == pytest.approx(1 - (3 / 12) / 0.4)
    assert st.state == "ok"
    # per event the same window is far better: the SLI and burn rates stay per event
    assert (st.good, st.total) == (5600 - 100 - 30 - 25 - 20 - 100, 5600)
    assert st.sli == pytest.approx(st.good / 5600)


def test_slices_are_aligned_to_the_clock_not_to_the_moving_window_start(sliced):
    # at 12:02 a rolling window starts at 12:03 seven days ago; the slices stay 11:00, 11:05 …
    slos_evaluate(now=T0 + 2 * M)
    assert status(sliced).budget_remaining == pytest.approx(1 - (3 / 12) / 0.4)


def test_a_correction_removes_the_minutes_it_touches_and_the_slices_it_empties(sliced):
    # 11:09:30–11:15: minutes 11:09 … 11:14 go (a touched minute goes whole, as for occurrences):
    # slice 11:05 keeps 11:05–11:08 (400/400, good), slice 11:10 is left without events (not counted)
    correction_create(slo=sliced, starts_at=at(11, 9, 30), ends_at=at(11, 15), reason="bad probe", actor=ACTOR,
                      source="test")
    slos_evaluate(now=T0)
    assert status(sliced).budget_remaining == pytest.approx(1 - (1 / 11) / 0.4)
    correction_create(slo=sliced, starts_at=at(11, 50), ends_at=at(11, 55), reason="maintenance", actor=ACTOR,
                      source="test")
    slos_evaluate(now=T0)
    assert status(sliced).budget_remaining == pytest.approx(1.0)  # 10 slices, none bad


@pytest.mark.parametrize(("good", "verdict"), [(999, 1.0), (998, 0.0)])
def test_the_slice_target_is_compared_exactly(make_slo, good, verdict):
    # 99.9 % as a float is 0.9990000000000001: 999/1000 must still meet it
    slo = make_slo(slug="exact", objective="50", budgeting="timeslices", timeslice_minutes=1, timeslice_target="99.9",
                   min_events=1)
    sli_buckets_upsert(slo_id=slo.pk, items=[(T0, good, 1000), (T0 - M, 1000, 1000)])
    slos_evaluate(now=T0)
    good_slices = 1 + verdict
    assert status(slo).budget_remaining == pytest.approx(1 - ((2 - good_slices) / 2) / 0.5)


def test_without_events_there_is_no_budget_even_with_min_events_zero(make_slo):
    slo = make_slo(slug="quiet", budgeting="timeslices", timeslice_minutes=5, timeslice_target="95", min_events=0)
    sli_buckets_upsert(slo_id=slo.pk, items=[(T0 - i * M, 0, 0) for i in range(30)])
    occurrences = make_slo(slug="quiet-events", min_events=0)
    sli_buckets_upsert(slo_id=occurrences.pk, items=[(T0, 0, 0)])
    assert slos_evaluate(now=T0)["evaluated"] == 2  # no division by zero drops an SLO from the cycle
    for s in (slo, occurrences):
        assert status(s).state == "insufficient_data" and status(s).budget_remaining is None


def test_calendar_month_slices_start_with_the_month_in_the_slos_time_zone(make_slo):
    # Berlin's December starts at 2026-11-30 23:00 UTC; November's last hour is all bad
    boundary = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    slo = make_slo(slug="monthly", objective="60", window="calendar-month", timezone="Europe/Berlin",
                   budgeting="timeslices", timeslice_minutes=5, timeslice_target="95", min_events=10)
    fill(slo, boundary - timedelta(hours=1), boundary, error_ratio=1.0)
    fill(slo, boundary, boundary + 31 * M)
    sli_buckets_upsert(slo_id=slo.pk, items=[(boundary + 17 * M, 50, 100)])  # slice 23:15 bad
    slos_evaluate(now=boundary - M)
    assert status(slo).budget_remaining == pytest.approx(1 - (12 / 12) / 0.4)  # November: every slice bad
    slos_evaluate(now=boundary + 30 * M)
    st = status(slo)
    assert st.window_start == boundary
    # 23:00, 23:05 … 23:30 (one minute so far): 7 slices, 1 bad
    assert st.budget_remaining == pytest.approx(1 - (1 / 7) / 0.4)
