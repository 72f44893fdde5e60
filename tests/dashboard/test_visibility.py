"""The SQL visibility filter agrees with events.groups.domain_for for every domain."""

import pytest
from django.utils import timezone

from opsportal.events.groups import DOMAINS, domain_for
from opsportal.events.models import OutboxEvent
from opsportal.events.selectors import events_after, events_visible

pytestmark = pytest.mark.django_db

TYPES = [
    "catalog.service_created", "incident.opened", "breaker.opened", "dlq.added", "health.probe_failed",
    "audit.export", "auth.login", "token.issued", "token", "other.thing", "mystery.event", "catalogue.x",
    "breakers.x", "chaos", "runbook.published", "slo.fast_burn", "worker.stale", "workers.x",
]


@pytest.fixture
def outbox():
    return [
        OutboxEvent.objects.create(type=t, aggregate_type="x", aggregate_id="1", created_at=timezone.now()) for t in TYPES
    ]


@pytest.mark.parametrize("domain", DOMAINS)
def test_events_visible_matches_domain_for(outbox, domain):
    got = set(events_visible([domain]).values_list("type", flat=True))
    assert got == {t for t in TYPES if domain_for(t) == domain}


def test_events_visible_for_no_domain_is_empty(outbox):
    assert not events_visible([]).exists()


def test_events_after_is_limited_to_visible_events_and_reports_truncation(outbox):
    anchor = str(outbox[0].uuid)
    events, complete = events_after(after=anchor, domains={"audit"}, limit=10)
    assert [e.type for e in events] == ["audit.export", "auth.login", "token.issued", "token"] and complete
    events, complete = events_after(after=anchor, domains={"audit"}, limit=3)
    assert len(events) == 3 and not complete
