"""Load shedding by level and rate limits (429/503 + Retry-After, problem+json, counted)."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from reliability.health.degradation import Level
from reliability.health.shedding.classify import INTAKE, NON_CRITICAL, OPERATOR, STANDARD, classify
from tests.health.degrade.helpers import pin, sample
from tests.webhooks.helpers import post, standard_headers

pytestmark = pytest.mark.django_db
EXPORT = "/api/v1/audit/export.csv"


def _webhook(client, slug="shop"):
    body = json.dumps({"type": "order.paid", "id": uuid.uuid4().hex}).encode()
    return post(client, slug, body, standard_headers(body))


@pytest.fixture
def source(make_source):
    return make_source("shop", "standard")


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert int(response["Retry-After"]) > 0
    return response.json()


@pytest.mark.parametrize(("path", "kind"), [
    ("/api/v1/webhooks/in/shop/", INTAKE), ("/api/v1/alerts/alertmanager/", INTAKE), ("/health/ready", INTAKE),
    (EXPORT, NON_CRITICAL), ("/api/v1/reports/reliability/", NON_CRITICAL), ("/api/v1/audit/", NON_CRITICAL),
    ("/api/v1/degradation/", OPERATOR), ("/admin/", OPERATOR), ("/ops/", OPERATOR),
    ("/api/v1/incidents/", STANDARD), ("/api/v1/breakers/", STANDARD),
])
def test_classification(path, kind):
    assert classify(path) == kind


def test_at_severe_the_export_is_shed_while_signed_webhooks_are_accepted(
        client, auditor, source, django_capture_on_commit_callbacks):
    client.force_login(auditor)
    assert client.get(EXPORT).status_code == 200  # NORMAL: served
    assert _webhook(client).status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        pin(Level.SEVERE, reason="shed test")

    before = sample("requests_shed_total", {"reason": "non_critical"})
    body = _problem(client.get(EXPORT), 503)
    assert body["level"] == "SEVERE" and body["type"].endswith("shed")
    assert sample("requests_shed_total", {"reason": "non_critical"}) == before + 1
    assert _webhook(client).status_code == 202  # ingestion is shed last
    assert client.get("/api/v1/audit/?limit=1").status_code == 503  # a heavy list
    assert client.get("/health/live").status_code == 200


def test_at_critical_intake_is_shed_only_beyond_the_concurrency_cap(
        client, source, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        pin(Level.CRITICAL, reason="cap test")
    assert _webhook(client).status_code == 202  # under the cap (nothing else in flight)

    settings.SHED_INTAKE_MAX_CONCURRENCY = 0  # every request is "beyond the cap"
    before = sample("requests_shed_total", {"reason": "intake_concurrency"})
    body = _problem(_webhook(client), 503)
    assert body["level"] == "CRITICAL"
    assert sample("requests_shed_total", {"reason": "intake_concurrency"}) == before + 1


def test_the_concurrency_cap_counts_requests_in_flight(settings, rf, django_capture_on_commit_callbacks):
    from reliability.health.shedding.middleware import LoadSheddingMiddleware

    with django_capture_on_commit_callbacks(execute=True):
        pin(Level.CRITICAL, reason="cap test")
    settings.SHED_INTAKE_MAX_CONCURRENCY = 1
    inside, release = threading.Event(), threading.Event()

    def slow_view(request):
        inside.set()
        release.wait(30)
        from django.http import HttpResponse

        return HttpResponse(status=202)

    mw = LoadSheddingMiddleware(slow_view)
    results = []
    first = threading.Thread(target=lambda: results.append(mw(rf.post("/api/v1/webhooks/in/x/")).status_code))
    first.start()
    assert inside.wait(30)
    assert mw(rf.post("/api/v1/webhooks/in/x/")).status_code == 503  # the second is over the cap
    release.set()
    first.join(30)
    assert results == [202]
    inside.clear()
    release.set()
    assert mw(rf.post("/api/v1/webhooks/in/x/")).status_code == 202  # the slot is free again


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(token_client, settings, time_machine):
    time_machine.move_to("2026-12-02T10:00:10Z", tick=False)  # one fixed window for the whole test
    settings.RATE_LIMIT_TOKEN_PER_MINUTE = 3
    client = token_client("read")
    assert [client.get("/api/v1/incidents/").status_code for _ in range(3)] == [200, 200, 200]
    before = sample("requests_shed_total", {"reason": "rate_limit_token"})
    response = client.get("/api/v1/incidents/")
    body = _problem(response, 429)
    assert body["limit"] == 3 and response["Retry-After"] == "50"  # the window ends at 10:01:00
    assert sample("requests_shed_total", {"reason": "rate_limit_token"}) == before + 1
    assert token_client("read").get("/api/v1/incidents/").status_code == 200  # another token has its own budget


def test_user_limits_tighten_with_the_level(user_client, operator, settings, django_capture_on_commit_callbacks,
                                           time_machine):
    time_machine.move_to("2026-12-02T10:00:10Z", tick=False)
    settings.RATE_LIMIT_USER_PER_MINUTE = 10
    with django_capture_on_commit_callbacks(execute=True):
        pin(Level.SEVERE, reason="tighten")  # SEVERE allows a fifth: 2 a minute
    client = user_client(operator)
    codes = [client.get("/api/v1/incidents/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert _problem(client.get("/api/v1/incidents/"), 429)["level"] == "SEVERE"


def test_rate_limits_count_locally_when_redis_is_away(settings):
    from reliability.health.shedding.limits import RateLimiter

    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # a closed port
    limiter = RateLimiter()
    verdicts = [limiter.hit("token", "abc", 2, now=1000.0) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[-1].retry_after == 20  # the 60 s window ends at 1020


def test_intake_is_never_rate_limited(client, source, settings):
    settings.RATE_LIMIT_TOKEN_PER_MINUTE = 1
    codes = [_webhook(client).status_code for _ in range(3)]
    assert codes == [202, 202, 202]


async def test_the_async_path_caps_intake_and_leaves_it_alone_below_critical(settings, rf):
    """Under ASGI the middleware runs in the event loop: same cap, same answers."""
    import asyncio

    from django.http import HttpResponse

    from reliability.health.degradation import state
    from reliability.health.shedding.middleware import LoadSheddingMiddleware

    settings.SHED_INTAKE_MAX_CONCURRENCY = 1
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow_view(request):
        inside.set()
        await asyncio.wait_for(release.wait(), 30)
        return HttpResponse(status=202)

    mw = LoadSheddingMiddleware(slow_view)
    assert asyncio.iscoroutinefunction(mw)
    state.hold_local(state.Snapshot(computed=Level.CRITICAL))
    first = asyncio.ensure_future(mw(rf.post("/api/v1/webhooks/in/x/")))
    await asyncio.wait_for(inside.wait(), 30)
    over = await mw(rf.post("/api/v1/webhooks/in/x/"))
    assert over.status_code == 503 and over["Retry-After"] == "5"  # the second is over the cap
    release.set()
    assert (await first).status_code == 202
    assert (await mw(rf.post("/api/v1/webhooks/in/x/"))).status_code == 202  # the slot is free again

    state.hold_local(state.Snapshot())  # NORMAL: no cap at all
    release.clear()
    inside.clear()
    held = [asyncio.ensure_future(mw(rf.post("/api/v1/webhooks/in/x/"))) for _ in range(3)]
    await asyncio.wait_for(inside.wait(), 30)
    release.set()
    assert [(await h).status_code for h in held] == [202, 202, 202]
