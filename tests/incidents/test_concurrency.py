"""Races against real PostgreSQL: concurrent deliveries, ack against resolve."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from audit.actors import Actor
from reliability.incidents.models import Alert, Incident
from reliability.incidents.services import (
    IncidentClosed,
    incident_acknowledge,
    incident_open,
    incident_resolve,
)
from tests.incidents.conftest import group_payload, real_payload

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _in_threads(n: int, fn):
    barrier = threading.Barrier(n)

    def run(i):
        try:
            barrier.wait(timeout=60)
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_fifty_concurrent_deliveries_of_one_payload_give_one_incident(issue_token):
    assert connection.vendor == "postgresql"
    token = issue_token("alerts:write")

    def deliver(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/api/v1/alerts/alertmanager/", real_payload(), format="json").status_code

    statuses = _in_threads(50, deliver)
    assert statuses == [200] * 50
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 2
    assert set(Alert.objects.values_list("incident_id", flat=True)) == {Incident.objects.get().pk}


def test_concurrent_groups_sharing_alerts_do_not_deadlock(issue_token):
    token = issue_token("alerts:write")

    def deliver(i):
        p = group_payload(f"G{i % 5}", 20)
        if i % 2:
            p["alerts"].reverse()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/api/v1/alerts/alertmanager/", p, format="json").status_code

    assert _in_threads(20, deliver) == [200] * 20
    assert Incident.objects.count() == 5 and Alert.objects.count() == 100


@pytest.mark.parametrize("round_", range(5))
def test_acknowledge_racing_resolve_always_ends_resolved(round_):
    incident = incident_open(title="race", severity="P1", group_key=f"race-{round_}", actor=Actor.for_system("t"),
                             source="test")

    def act(i):
        try:
            if i % 2:
                incident_acknowledge(incident_id=incident.pk, actor=Actor.for_system(f"acker{i}"), source="test")
            else:
                incident_resolve(incident_id=incident.pk, actor=Actor.for_system(f"resolver{i}"), source="test")
            return "ok"
        except IncidentClosed:
            return "refused"

    results = _in_threads(6, act)
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert results.count("ok") >= 1 and "refused" in results  # only one resolve can win; late acks are refused
