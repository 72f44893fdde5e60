"""The SLO API: push events (idempotent, validated, never 5xx), CRUD by slug, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from reliability.slos.models import SLO, SLIBucket, SLIHour
from reliability.slos.services import slos_evaluate

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 10, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def pusher(token_client):
    return token_client("slo:write")


def _minute(i: int) -> str:
    return (NOW.replace(second=0) - timedelta(minutes=i)).isoformat().replace("+00:00", "Z")


@time_machine.travel(NOW, tick=False)
def test_a_batch_upserts_idempotently_last_write_wins(make_slo, pusher):
    slo = make_slo()
    body = {"events": [{"minute": _minute(i), "good": 90, "total": 100} for i in range(100)]}
    url = f"/api/v1/slos/{slo.slug}/events/"
    first = pusher.post(url, body, format="json")
    assert first.status_code == 200, first.content
    assert first.json() == {"slug": slo.slug, "accepted": 100, "minutes": 100}
    again = pusher.post(url, body, format="json")
    assert again.status_code == 200
    assert SLIBucket.objects.filter(slo=slo).count() == 100
    pusher.post(url, {"minute": _minute(0), "good": 1, "total": 2}, format="json")  # one event, no list
    pusher.post(url, [{"timestamp": NOW.timestamp() - 30, "good": 5, "total": 5}], format="json")  # a bare list
    row = SLIBucket.objects.get(slo=slo, minute=NOW.replace(second=0))
    assert (row.good, row.total) == (5, 5)
    assert sum(SLIHour.objects.filter(slo=slo).values_list("total", flat=True)) == 99 * 100 + 5
    assert not AuditEntry.objects.filter(action__startswith="slo.").exclude(action="slo.create").exists()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(("event", "path", "words"), [
    ({"minute": "2026-11-10T11:00:00Z", "good": 11, "total": 10}, "events[1].good", "must not exceed"),
    ({"minute": "2026-11-10T11:00:00Z", "good": -1, "total": 10}, "events[1].good", "negative"),
    ({"minute": "2026-11-10T11:00:00Z", "good": 1.5, "total": 10}, "events[1].good", "whole number"),
    ({"minute": "2026-11-10T11:00:00Z", "good": True, "total": 10}, "events[1].good", "whole number"),
    ({"minute": "2026-11-10T11:00:00Z", "good": 1}, "events[1].total", "whole number"),
    ({"minute": "2026-11-10T12:10:00Z", "good": 1, "total": 1}, "events[1].minute", "future"),
    ({"minute": "2025-01-01T00:00:00Z", "good": 1, "total": 1}, "events[1].minute", "older"),
    ({"minute": "yesterday", "good": 1, "total": 1}, "events[1].minute", "ISO-8601"),
    ({"good": 1, "total": 1}, "events[1].minute", "needs a minute"),
    ("x", "events[1]", "object"),
])
def test_an_invalid_item_rejects_the_batch_naming_it(make_slo, pusher, event, path, words):
    slo = make_slo()
    body = {"events": [{"minute": _minute(1), "good": 1, "total": 1}, event]}
    resp = pusher.post(f"/api/v1/slos/{slo.slug}/events/", body, format="json")
    assert resp.status_code == 400
    assert resp["Content-Type"].startswith("application/problem+json")
    problem = resp.json()
    assert path in problem["errors"], problem
    assert words in " ".join(problem["errors"][path])
    assert not SLIBucket.objects.exists()


def test_push_needs_the_scope(make_slo, token_client, api_client):
    slo = make_slo()
    body = {"events": [{"minute": _minute(1), "good": 1, "total": 1}]}
    assert token_client("read").post(f"/api/v1/slos/{slo.slug}/events/", body, format="json").status_code == 403
    assert api_client.post(f"/api/v1/slos/{slo.slug}/events/", body, format="json").status_code in (401, 403)
    assert token_client("slo:write").post("/api/v1/slos/nope/events/", body, format="json").status_code == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries({}, optional={
    "minute": st.one_of(st.text(max_size=30), st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()), json_values),
    "timestamp": st.one_of(st.integers(), st.floats(), st.text(max_size=20)),
    "good": st.one_of(st.integers(min_value=-5, max_value=2**60), st.floats(), json_values),
    "total": st.one_of(st.integers(min_value=-5, max_value=2**60), st.floats(), json_values)})
bodies = st.one_of(
    json_values.map(json.dumps),
    st.lists(event_like, max_size=5).map(lambda e: json.dumps({"events": e})),
    event_like.map(json.dumps),
    st.text(max_size=200),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies)
def test_no_body_gives_a_5xx(make_slo, pusher, body):
    slo = SLO.objects.filter(slug="fuzz").first() or make_slo(slug="fuzz")
    resp = pusher.generic("POST", f"/api/v1/slos/{slo.slug}/events/", body, content_type="application/json")
    assert resp.status_code < 500, (body, resp.content)
    assert resp.status_code in (200, 400, 413, 415), resp.status_code


def test_crud_by_slug_and_status(user_client, operator, support_user, service):
    op = user_client(operator)
    created = op.post("/api/v1/slos/", {"slug": "checkout-avail", "name": "Checkout availability",
                                        "service": service.name, "objective": 99.5, "window": "28d",
                                        "timezone": "Europe/Berlin", "labels": {"team": "payments"}}, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["objective"] == 99.5 and data["window"] == "28d" and data["budgeting"] == "occurrences"
    assert [t["name"] for t in data["tiers"]] == ["page-fast", "page-slow", "ticket-fast", "ticket-slow"]
    assert data["tiers"][0]["long_window_minutes"] == 56  # 60 × 28/30
    assert AuditEntry.objects.filter(action="slo.create").count() == 1
    reader = user_client(support_user)
    assert reader.get("/api/v1/slos/checkout-avail/").status_code == 200
    assert reader.patch("/api/v1/slos/checkout-avail/", {"objective": 99}, format="json").status_code == 403
    bad = op.patch("/api/v1/slos/checkout-avail/", {"tiers": [{"name": "page-fast", "factor": 500}]}, format="json")
    assert bad.status_code == 400 and "can never burn" in json.dumps(bad.json())
    ok = op.patch("/api/v1/slos/checkout-avail/", {"objective": 99.9, "min_events": 50}, format="json")
    assert ok.status_code == 200 and ok.json()["objective"] == 99.9 and ok.json()["min_events"] == 50
    invalid = op.post("/api/v1/slos/", {"slug": "x", "name": "x", "service": service.name, "objective": 100}, format="json")
    assert invalid.status_code == 400 and "objective" in invalid.json()["errors"]
    slos_evaluate()
    status = reader.get("/api/v1/slos/checkout-avail/status/")
    assert status.status_code == 200
    body = status.json()
    assert body["state"] == "insufficient_data" and body["budget_remaining"] is None
    assert set(body["burn_rates"]) >= {"5m", "56m", "1h", "4032m"}  # the 28-day scaled tier windows (and 1h)
    listing = reader.get("/api/v1/slos/")
    assert [s["slug"] for s in listing.json()["results"]] == ["checkout-avail"]
    assert op.delete("/api/v1/slos/checkout-avail/").status_code == 204
    assert not SLO.objects.exists()
