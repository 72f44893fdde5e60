"""The reliability report over real data built through the services: JSON, CSV, the page, snapshots."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from datetime import UTC, datetime

import pytest
import time_machine

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.events.models import OutboxEvent
from reliability.reports.models import ReliabilitySnapshot
from reliability.reports.periods import PeriodError
from reliability.reports.selectors import CSV_HEADER
from reliability.reports.services import reliability_snapshot_store

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # "now" for every request below
API = "/api/v1/reports/reliability/"


@pytest.fixture
def reader(token_client):
    return token_client("read")


def _get(client, path, **params):
    with time_machine.travel(NOW, tick=False):
        return client.get(path, params)


def _service(report, name):
    return next(s for s in report["services"] if s["service"] == name)


def test_json_has_each_section_per_service(world, reader):
    resp = _get(reader, API, period="month:2026-11")
    assert resp.status_code == 200, resp.content
    report = resp.json()
    assert report["period"] == {"label": "month:2026-11", "start": "2026-11-01T00:00:00+00:00",
                                "end": "2026-12-01T00:00:00+00:00", "partial": True}
    # every catalog service (the token's own "integration" too), then what belongs to none
    assert [s["service"] for s in report["services"]] == ["integration", "payments", "search", None]
    pay = _service(report, "payments")
    assert pay["team"] == "core" and pay["tier"] == 0
    assert pay["incidents"]["total"] == 3  # December's is outside the period
    p0, p1 = pay["incidents"]["by_severity"]
    assert p0 == {"severity": "P0", "incidents": 1, "acknowledged": 0, "resolved": 0, "mtta_seconds": None,
                  "mttr_seconds": None}
    assert p1 == {"severity": "P1", "incidents": 2, "acknowledged": 2, "resolved": 2, "mtta_seconds": 180.0,
                  "mttr_seconds": 2700.0}
    assert pay["breaker_trips"] == {"total": 2, "by_breaker": [{"breaker": "stripe-api", "trips": 2,
                                                                "forced_open": 1}]}
    assert _service(report, "search")["incidents"] == {"total": 0, "by_severity": []}
    loose = _service(report, None)
    assert loose["incidents"]["by_severity"][0]["mtta_seconds"] == 600.0
    assert report["dlq"] == {"added": 5, "replayed": 2, "discarded": 2,
                             "by_destination": [{"destination": "billing", "added": 3},
                                                {"destination": "ledger", "added": 2}]}
    # the SLO and chaos apps are installed but hold nothing here: configured, empty
    assert report["slos"] == {"configured": True, "note": None, "count": 0} and pay["slos"] == []
    assert report["chaos"] == {"configured": True, "note": None, "drills": []}


def _csv(resp) -> list[dict]:
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode())))
    assert tuple(rows[0]) == CSV_HEADER
    return [dict(zip(CSV_HEADER, r, strict=True)) for r in rows[1:]]


def _expected_from_json(report: dict) -> dict[tuple, str]:
    """What the CSV must hold, derived from the JSON independently of the code under test."""
    def cell(v):
        return "" if v is None else ("true" if v is True else "false" if v is False else str(v))

    out = {("period", "", report["period"]["label"], k): cell(report["period"][k]) for k in ("start", "end", "partial")}
    for s in report["services"]:
        name = s["service"] or ""
        out[("incidents", name, "all", "incidents")] = cell(s["incidents"]["total"])
        for r in s["incidents"]["by_severity"]:
            for k in ("incidents", "acknowledged", "resolved", "mtta_seconds", "mttr_seconds"):
                out[("incidents", name, r["severity"], k)] = cell(r[k])
        out[("breakers", name, "all", "trips")] = cell(s["breaker_trips"]["total"])
        for b in s["breaker_trips"]["by_breaker"]:
            out[("breakers", name, b["breaker"], "trips")] = cell(b["trips"])
            out[("breakers", name, b["breaker"], "forced_open")] = cell(b["forced_open"])
        for slo in s["slos"] or []:
            for k, v in slo.items():
                if k not in ("service", "slo"):
                    out[("slos", name, slo["slo"], k)] = cell(v)
    for k in ("added", "replayed", "discarded"):
        out[("dlq", "", "all", k)] = cell(report["dlq"][k])
    for d in report["dlq"]["by_destination"]:
        out[("dlq", "", d["destination"], "added")] = cell(d["added"])
    for section in ("slos", "chaos"):
        if report[section]["note"]:
            out[(section, "", "", "note")] = report[section]["note"]
    return out


@pytest.mark.parametrize("how", ["format", "suffix", "accept"])
def test_csv_agrees_with_json(world, reader, how):
    report = _get(reader, API, period="month:2026-11").json()
    with time_machine.travel(NOW, tick=False):
        if how == "format":
            resp = reader.get(API, {"period": "month:2026-11", "format": "csv"})
        elif how == "suffix":
            resp = reader.get("/api/v1/reports/reliability.csv", {"period": "month:2026-11"})
        else:
            resp = reader.get(API, {"period": "month:2026-11"}, HTTP_ACCEPT="text/csv")
    rows = _csv(resp)
    got = {(r["section"], r["service"], r["item"], r["metric"]): r["value"] for r in rows}
    assert len(got) == len(rows)  # no key twice
    assert got == _expected_from_json(report)
    assert got[("incidents", "payments", "P1", "mttr_seconds")] == "2700.0"
    assert got[("dlq", "", "all", "replayed")] == "2"
    if how != "accept":
        assert 'filename="reliability-month-2026-11.csv"' in resp["Content-Disposition"]


@pytest.mark.parametrize("period", ["", "7d", "30d", "366d", "quarter:2026-Q4", "week:2026-W46", "month:2026-10"])
def test_every_period_form_answers(world, reader, period):
    resp = _get(reader, API, period=period)
    assert resp.status_code == 200, resp.content
    assert resp.json()["period"]["label"] == (period or "30d")


def test_rolling_and_quarter_bounds(world, reader):
    seven = _get(reader, API, period="7d").json()
    assert seven["period"]["end"] == NOW.isoformat() and _service(seven, "payments")["incidents"]["total"] == 0
    quarter = _get(reader, API, period="quarter:2026-Q4").json()
    assert quarter["period"]["start"] == "2026-10-01T00:00:00+00:00"
    assert quarter["period"]["end"] == "2027-01-01T00:00:00+00:00"
    assert _service(quarter, "payments")["incidents"]["total"] == 4  # December 3rd is inside Q4
    october = _get(reader, API, period="month:2026-10").json()
    assert october["period"]["partial"] is False and _service(october, "payments")["incidents"]["total"] == 0


@pytest.mark.parametrize("period", ["0d", "367d", "30", "month:2026-13", "month:26-11", "quarter:2026-Q5",
                                    "week:2026-W54", "month:2027-01", "x" * 100, "7d\x00", "month:2026-11;drop"])
def test_a_bad_period_is_400_problem_json(reader, period):
    for params in ({"period": period}, {"period": period, "format": "csv"}):
        resp = _get(reader, API, **params)
        assert resp.status_code == 400, (period, resp.content)
        assert resp["Content-Type"].startswith("application/problem+json")
        body = resp.json()
        assert body["status"] == 400
        if "\x00" not in period:  # a NUL is refused before the view, by the request guard
            assert "period" in body["errors"] and body["detail"].startswith("the request is invalid: period:")


def test_scope_and_roles(world, token_client, client, make_user, support_user):
    assert _get(token_client("alerts:write"), API).status_code == 403
    assert _get(client, API).status_code in (401, 403)
    client.force_login(support_user)
    assert _get(client, API).status_code == 200
    client.force_login(make_user("nobody"))  # staff, but no portal role
    assert _get(client, API).status_code == 403


# --- the SLO and chaos sections, once their apps exist -------------------------------------------


@pytest.fixture
def fake_hooks(monkeypatch):
    """What the slos and chaos apps will provide: ``report_rows(start, end)`` in their selectors."""
    calls = []

    def slo_rows(start, end):
        calls.append(("slos", start, end))
        return [{"service": "payments", "slo": "checkout-availability", "objective": 99.9, "attainment": 99.95,
                 "budget_remaining": 0.5, "state": "ok", "evaluated_at": end}]

    def chaos_rows(start, end):
        calls.append(("chaos", start, end))
        return [{"drill": 7, "scenario": "dependency-failure", "service": "payments", "verdict": "passed"}]

    slos = types.ModuleType("reliability.slos.selectors")
    slos.report_rows = slo_rows
    chaos = types.ModuleType("chaos.selectors")
    chaos.report_rows = chaos_rows
    monkeypatch.setitem(sys.modules, "reliability.slos", types.ModuleType("reliability.slos"))
    monkeypatch.setitem(sys.modules, "reliability.slos.selectors", slos)
    monkeypatch.setitem(sys.modules, "chaos", types.ModuleType("chaos"))
    monkeypatch.setitem(sys.modules, "chaos.selectors", chaos)
    return calls


def test_slo_and_chaos_rows_come_from_their_hooks(world, reader, fake_hooks):
    report = _get(reader, API, period="month:2026-11").json()
    assert fake_hooks[0][0] == "slos" and fake_hooks[0][1] == datetime(2026, 11, 1, tzinfo=UTC)
    assert report["slos"] == {"configured": True, "note": None, "count": 1}
    [slo] = _service(report, "payments")["slos"]
    assert slo["attainment"] == 99.95 and slo["evaluated_at"] == "2026-12-01T00:00:00+00:00"
    assert _service(report, "search")["slos"] == []
    assert report["chaos"]["drills"] == [{"drill": 7, "scenario": "dependency-failure", "service": "payments",
                                          "verdict": "passed"}]
    assert _service(report, "payments")["chaos_drills"][0]["verdict"] == "passed"
    got = {(r["section"], r["service"], r["item"], r["metric"]): r["value"]
           for r in _csv(_get(reader, API, period="month:2026-11", format="csv"))}
    assert got[("slos", "payments", "checkout-availability", "budget_remaining")] == "0.5"
    assert got[("chaos", "payments", "7", "verdict")] == "passed"


def test_a_failing_hook_leaves_the_rest_of_the_report(world, reader, fake_hooks, monkeypatch):
    def broken(start, end):
        raise RuntimeError("boom")

    monkeypatch.setattr(sys.modules["reliability.slos.selectors"], "report_rows", broken)
    resp = _get(reader, API, period="month:2026-11")
    assert resp.status_code == 200
    assert resp.json()["slos"] == {"configured": False, "note": "SLOs unavailable (error logged)", "count": 0}
    assert resp.json()["dlq"]["added"] == 5


# --- snapshots -------------------------------------------------------------------------------------


def test_the_weekly_job_stores_last_weeks_report_once(world, settings):
    from reliability.reports.tasks import store_weekly_snapshot

    entry = settings.CELERY_BEAT_SCHEDULE["reports-weekly-snapshot"]
    assert entry["task"] == "reports.store_weekly_snapshot" and entry["schedule"].day_of_week == {1}
    with time_machine.travel(datetime(2026, 11, 16, 0, 30, tzinfo=UTC), tick=False):  # Monday after week 46
        first = store_weekly_snapshot()
        again = store_weekly_snapshot()
    assert first["period"] == "week:2026-W46" and first["created"] and not again["created"]
    snap = ReliabilitySnapshot.objects.get()
    assert (snap.starts_at, snap.ends_at) == (datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
    assert snap.data["dlq"]["added"] == 5 and snap.data["period"]["partial"] is False
    assert next(s for s in snap.data["services"] if s["service"] == "payments")["incidents"]["total"] == 3
    entries = AuditEntry.objects.filter(action="report.snapshot_store")
    assert entries.count() == 1 and entries.get().changes["incidents"] == [None, 4]
    assert OutboxEvent.objects.filter(type="report.snapshot_stored").count() == 1
    json.dumps(snap.data)  # what the API would have answered: plain JSON


def test_a_running_period_is_not_stored():
    with time_machine.travel(NOW, tick=False):
        for period in ("month:2026-11", "7d"):
            with pytest.raises(PeriodError):
                reliability_snapshot_store(period=period, actor=SYS, source="test")
    assert not ReliabilitySnapshot.objects.exists()
