"""Burn tiers with a controlled clock and synthetic buckets (issue #12 acceptance)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.incidents.models import Incident
from reliability.slos.models import SLOStatus
from reliability.slos.services import slos_evaluate
from tests.slos.conftest import T0, fill, tier

pytestmark = pytest.mark.django_db(transaction=False)
M = timedelta(minutes=1)


def _status(slo):
    return SLOStatus.objects.get(slo=slo)


def test_default_tiers_are_the_sre_workbook_ones(make_slo):
    slo = make_slo()
    rows = [(t.name, t.severity, t.long_window_minutes, t.short_window_minutes, t.factor)
            for t in slo.policy.tiers.order_by("long_window_minutes")]
    assert rows == [("page-fast", "page", 60, 5, 14.4), ("page-slow", "page", 360, 30, 6.0),
                    ("ticket-fast", "ticket", 1440, 120, 3.0), ("ticket-slow", "ticket", 4320, 360, 1.0)]
    week = make_slo(slug="weekly", window="7d")
    assert [(t.long_window_minutes, t.short_window_minutes) for t in week.policy.tiers.order_by("long_window_minutes")] \
        == [(14, 1), (84, 7), (336, 28), (1008, 84)]


def test_fast_burn_fires_after_both_windows_agree_and_resolves(make_slo):
    slo = make_slo(min_events=100)
    # a clean day, then from T0 on 2 % errors: burn ×20 (> 14.4) in every window that only sees the burn
    fill(slo, T0 - timedelta(days=1), T0, error_ratio=0.0)
    slos_evaluate(now=T0 - M)
    assert _status(slo).state == "ok"
    assert tier(slo, "page-fast").state == "ok"
    fired_at = None
    for minute in range(0, 40):
        now = T0 + minute * M
        fill(slo, now, now + M, error_ratio=0.02)
        slos_evaluate(now=now)
        if tier(slo, "page-fast").state == "firing":
            fired_at = minute
            break
    # long window 1 h: burn over 1h = 20 × (m+1)/60 > 14.4 once m+1 > 43.2 … but both windows must agree:
    # the short window (5 m) is over from the first minute; the long one only after enough minutes.
    assert fired_at is None  # 40 minutes are not enough for the 1 h window
    for minute in range(40, 60):
        now = T0 + minute * M
        fill(slo, now, now + M, error_ratio=0.02)
        slos_evaluate(now=now)
        if tier(slo, "page-fast").state == "firing":
            fired_at = minute
            break
    assert fired_at == 43  # (43+1)/60 × 20 = 14.67 > 14.4; at minute 42: 14.33
    status = _status(slo)
    assert status.state == "burning"
    assert status.burn_rates["5m"] == pytest.approx(20.0)
    incident = Incident.objects.get(group_key=f"portal:slo:{slo.slug}:critical")
    assert incident.severity == "P1" and incident.status == "triggered"
    assert incident.service.name == "payments-api"
    assert "×14.67" in incident.alerts.get().annotations["description"]
    assert AuditEntry.objects.filter(action="incident.open").count() == 1
    assert OutboxEvent.objects.filter(type="incident.opened").count() == 1
    assert AuditEntry.objects.filter(action="slo.tier_fire").count() == 1
    assert OutboxEvent.objects.filter(type="slo.tier_firing").count() == 1
    # the burn stops: the 5 m window falls under the factor first, and one window under it resolves the tier
    now = T0 + 44 * M
    for minute in range(44, 60):
        now = T0 + minute * M
        fill(slo, now, now + M, error_ratio=0.0)
        slos_evaluate(now=now)
        if tier(slo, "page-fast").state != "firing":
            break
    assert tier(slo, "page-fast").state == "ok"
    # minute 45: the 5 m window (41–45) holds 3 bad minutes of 5: ×12 < 14.4, while the 1 h one is still ×14.67
    assert now == T0 + 45 * M
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert AuditEntry.objects.filter(action="incident.resolve").count() == 1
    assert OutboxEvent.objects.filter(type="incident.resolved").count() == 1
    assert AuditEntry.objects.filter(action="slo.tier_recover").count() == 1


def test_burn_only_in_the_short_window_does_not_fire(make_slo):
    slo = make_slo(min_events=100)
    fill(slo, T0 - timedelta(days=3), T0 - 3 * M, error_ratio=0.0)  # a clean history: no tier burns
    fill(slo, T0 - 3 * M, T0 + M, error_ratio=0.10)  # ×100 for 4 minutes: 1 h burn ×6.7
    slos_evaluate(now=T0)
    t = tier(slo, "page-fast")
    assert t.burn_short > 14.4 and t.burn_long < 14.4
    assert t.state == "ok"
    assert not Incident.objects.exists()


def test_low_traffic_is_insufficient_data_and_never_fires(make_slo):
    slo = make_slo(min_events=1000)
    fill(slo, T0 - timedelta(hours=1), T0 + M, total=5, error_ratio=1.0)  # 300 events, all bad
    slos_evaluate(now=T0)
    status = _status(slo)
    assert status.state == "insufficient_data"
    assert status.budget_remaining is None  # never a made-up 100 %
    assert tier(slo, "page-fast").state == "insufficient_data"
    assert not Incident.objects.exists()


def test_for_holds_the_tier_pending(make_slo):
    slo = make_slo(min_events=10)
    t = tier(slo, "page-fast")
    t.for_seconds = 120
    t.save()
    fill(slo, T0 - timedelta(hours=1), T0 + M, error_ratio=0.5)
    slos_evaluate(now=T0)
    assert tier(slo, "page-fast").state == "pending"
    slos_evaluate(now=T0 + M)
    assert tier(slo, "page-fast").state == "pending"
    slos_evaluate(now=T0 + 2 * M)
    assert tier(slo, "page-fast").state == "firing"


def test_absent_data_alerts_and_clears(make_slo):
    slo = make_slo(min_events=10, absent_minutes=15)
    fill(slo, T0 - timedelta(hours=1), T0, error_ratio=0.0)
    slos_evaluate(now=T0 + 10 * M)
    assert not _status(slo).absent
    slos_evaluate(now=T0 + 16 * M)
    assert _status(slo).absent
    incident = Incident.objects.get(group_key=f"portal:slo:{slo.slug}:warning")
    assert incident.status == "triggered"
    assert OutboxEvent.objects.filter(type="slo.data_absent").count() == 1
    slos_evaluate(now=T0 + 17 * M)  # still absent: nothing new
    assert OutboxEvent.objects.filter(type="slo.data_absent").count() == 1
    fill(slo, T0 + 17 * M, T0 + 18 * M)
    slos_evaluate(now=T0 + 17 * M)
    assert not _status(slo).absent
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_ticket_tier_opens_a_non_paging_incident(make_slo):
    slo = make_slo(min_events=10)
    # ×4 burn for three days: ticket-fast (×3 over 1 d and 2 h) fires, the page tiers do not
    fill(slo, T0 - timedelta(days=3), T0 + M, total=1000, error_ratio=0.004)
    slos_evaluate(now=T0)
    assert tier(slo, "ticket-fast").state == "firing"
    assert tier(slo, "page-fast").state == "ok"
    assert Incident.objects.get(group_key=f"portal:slo:{slo.slug}:info").severity == "P3"


def test_budget_and_exhaustion(make_slo):
    slo = make_slo(min_events=10)
    fill(slo, T0 - timedelta(days=30) + M, T0 + M, total=2000, error_ratio=0.0005)  # half the budget spent
    slos_evaluate(now=T0)
    status = _status(slo)
    assert status.budget_remaining == pytest.approx(0.5)
    assert status.state == "ok"
    # at ×0.5 burn, the remaining half lasts 0.5 × 30 d / 0.5 = 30 days
    assert status.exhaustion_at - T0 == pytest.approx(timedelta(days=30), abs=timedelta(minutes=1))


def test_exhausted_budget_marks_the_service(make_slo):
    from reliability.slos.selectors import budget_exhausted_services, fast_burning_slos

    slo = make_slo(min_events=10)
    unprotected = make_slo(slug="best-effort", protected=False)
    fill(slo, T0 - timedelta(days=2), T0 + M, error_ratio=0.01)
    fill(unprotected, T0 - timedelta(days=2), T0 + M, error_ratio=0.01)
    slos_evaluate(now=T0)
    assert _status(slo).state == "exhausted"
    assert _status(slo).budget_remaining < 0
    assert budget_exhausted_services() == {"payments-api"}
    assert fast_burning_slos() == ["best-effort", "pay-avail"]
