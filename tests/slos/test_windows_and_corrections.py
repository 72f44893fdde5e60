"""Calendar windows in the SLO's time zone, corrections, the hourly rollup and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEntry
from reliability.slos import windows
from reliability.slos.models import SLIBucket, SLIHour, SLOStatus
from reliability.slos.services import correction_create, sli_buckets_upsert, slos_evaluate, tier_update
from tests.slos.conftest import ACTOR, fill, tier

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)


def test_calendar_month_resets_at_the_boundary_in_the_slos_time_zone(make_slo):
    slo = make_slo(window="calendar-month", timezone="Europe/Berlin", min_events=10)
    # Berlin's December starts at 2026-11-30 23:00 UTC
    boundary = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    fill(slo, boundary - timedelta(hours=6), boundary, total=2000, error_ratio=0.0005)  # November: half the budget gone
    slos_evaluate(now=boundary - M)
    before = SLOStatus.objects.get(slo=slo)
    assert before.budget_remaining == pytest.approx(0.5)
    assert before.window_start == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)  # 1 Nov 00:00 CET
    fill(slo, boundary, boundary + timedelta(minutes=30), total=2000, error_ratio=0.0)
    slos_evaluate(now=boundary + timedelta(minutes=29))
    after = SLOStatus.objects.get(slo=slo)
    assert after.window_start == boundary
    assert after.budget_remaining == pytest.approx(1.0)  # a new month: the whole budget again
    # in UTC the month has not turned yet: a UTC SLO with the same data still shows November's spend
    utc = make_slo(slug="utc-month", window="calendar-month", timezone="UTC", min_events=10)
    fill(utc, boundary - timedelta(hours=6), boundary, total=2000, error_ratio=0.0005)
    fill(utc, boundary, boundary + timedelta(minutes=30), total=2000, error_ratio=0.0)
    slos_evaluate(now=boundary + timedelta(minutes=29))
    assert SLOStatus.objects.get(slo=utc).budget_remaining < 0.75


def test_calendar_quarter_start():
    now = datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
    assert windows.slo_window_start("calendar-quarter", "UTC", now) == datetime(2026, 10, 1, tzinfo=UTC)
    assert windows.slo_window_start("calendar-quarter", "America/New_York", now) == datetime(2026, 10, 1, 4, tzinfo=UTC)


def test_a_correction_excludes_its_range_and_is_audited(make_slo):
    slo = make_slo(min_events=10)
    now = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    fill(slo, now - timedelta(days=2), now + M, error_ratio=0.0)
    # a bad 90 minutes (crossing an hour boundary, not hour-aligned) yesterday
    bad_start, bad_end = now - timedelta(hours=20, minutes=17), now - timedelta(hours=18, minutes=47)
    fill(slo, bad_start, bad_end, error_ratio=0.5)
    slos_evaluate(now=now)
    spent = SLOStatus.objects.get(slo=slo)
    assert spent.state == "exhausted"
    assert tier(slo, "ticket-fast").burn_long > 3
    correction_create(slo=slo, starts_at=bad_start, ends_at=bad_end, reason="planned maintenance", actor=ACTOR,
                      source="test")
    assert AuditEntry.objects.filter(action="slo.correction_create", reason="planned maintenance").count() == 1
    slos_evaluate(now=now)
    st = SLOStatus.objects.get(slo=slo)
    assert st.budget_remaining == pytest.approx(1.0)
    assert st.total == (2 * 24 * 60 + 1 - 90) * 100  # the corrected minutes count for nothing
    assert tier(slo, "ticket-fast").burn_long == pytest.approx(0.0)


def test_correction_needs_a_reason_and_an_order(make_slo):
    slo = make_slo()
    now = datetime(2026, 11, 10, tzinfo=UTC)
    with pytest.raises(ValidationError, match="reason"):
        correction_create(slo=slo, starts_at=now, ends_at=now + M, reason=" ", actor=ACTOR, source="test")
    with pytest.raises(ValidationError, match="end after"):
        correction_create(slo=slo, starts_at=now, ends_at=now, reason="x", actor=ACTOR, source="test")


def test_the_hourly_rollup_follows_every_upsert(make_slo):
    slo = make_slo()
    h = datetime(2026, 11, 10, 7, 0, tzinfo=UTC)
    sli_buckets_upsert(slo_id=slo.pk, items=[(h + i * M, 9, 10) for i in range(60)])
    assert SLIHour.objects.get(slo=slo, hour=h).total == 600
    sli_buckets_upsert(slo_id=slo.pk, items=[(h + 5 * M, 0, 100), (h + 5 * M, 1, 1)])  # last write wins
    assert SLIBucket.objects.get(slo=slo, minute=h + 5 * M).total == 1
    row = SLIHour.objects.get(slo=slo, hour=h)
    assert (row.good, row.total) == (59 * 9 + 1, 59 * 10 + 1)


def test_split_uses_hours_inside_and_minutes_at_the_edges():
    start, end = datetime(2026, 11, 1, 10, 17, tzinfo=UTC), datetime(2026, 11, 3, 9, 43, tzinfo=UTC)
    sp = windows.split(start, end, [])
    assert sp.hours == [(datetime(2026, 11, 1, 11, tzinfo=UTC), datetime(2026, 11, 3, 9, tzinfo=UTC))]
    assert sp.minutes == [(start, datetime(2026, 11, 1, 11, tzinfo=UTC)), (datetime(2026, 11, 3, 9, tzinfo=UTC), end)]


@pytest.mark.parametrize(("objective", "factor", "ok"), [("90", 14.4, False), ("90", 9.5, True), ("99.9", 14.4, True),
                                                        ("99", 99, True), ("99", 100, False)])
def test_a_tier_that_can_never_fire_is_refused(make_slo, objective, factor, ok):
    slo = make_slo(objective=objective)
    t = slo.policy.tiers.order_by("long_window_minutes").last()
    if ok:
        tier_update(tier_id=t.pk, factor=factor, actor=ACTOR, source="test")
    else:
        with pytest.raises(ValidationError, match="can never burn"):
            tier_update(tier_id=t.pk, factor=factor, actor=ACTOR, source="test")


def test_a_90_percent_slo_gets_only_the_tiers_it_can_fire(make_slo):
    slo = make_slo(objective="90")
    assert sorted(slo.policy.tiers.values_list("name", flat=True)) == ["page-slow", "ticket-fast", "ticket-slow"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"objective": "100"}, "objective"), ({"objective": "0"}, "objective"), ({"objective": "abc"}, "objective"),
    ({"window": "31d"}, "window"), ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"sli": "latency"}, "latency_threshold_ms"), ({"sli_source": "prometheus"}, "prometheus_good_query"),
    ({"labels": {"__x": "y"}}, "labels"),
])
def test_definition_errors_name_the_field(make_slo, fields, field):
    objective = fields.pop("objective", "99.9")
    with pytest.raises(ValidationError) as info:
        make_slo(objective=objective, **fields)
    assert field in info.value.message_dict


def test_prometheus_retention_shorter_than_the_window_warns():
    from reliability.slos.validation import prometheus_retention_warning

    assert "15d" in prometheus_retention_warning(window="30d", retention_text="15d")
    assert prometheus_retention_warning(window="7d", retention_text="15d") is None
    assert prometheus_retention_warning(window="calendar-quarter", retention_text="30d") is not None


def test_parse_duration_and_labels():
    assert windows.parse_duration("1h") == 60 and windows.parse_duration("3d") == 4320
    with pytest.raises(ValueError):
        windows.parse_duration("soon")
    assert [windows.label(m) for m in (5, 60, 360, 1440, 4320, 14)] == ["5m", "1h", "6h", "1d", "3d", "14m"]
