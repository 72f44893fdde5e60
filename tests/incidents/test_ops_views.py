"""/ops/incidents/: list, detail, actions (roles, CSRF, the services), report and CSV, the /ops/ panel."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.catalog.models import Service
from reliability.incidents.models import Incident
from reliability.incidents.services import incident_acknowledge, incident_open, incident_resolve

pytestmark = pytest.mark.django_db
SYS = Actor.for_system("test")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _open(key, severity="P2", service=None, title=None) -> Incident:
    return incident_open(title=title or f"incident {key}", severity=severity, group_key=key, actor=SYS,
                         source="test", service=service)


def _login(client, user):
    client.force_login(user)
    return client


def _no_inline_code(html: str) -> None:
    assert " style=" not in html and "<style" not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_list_sorted_by_severity_then_age_and_filtered(client, operator):
    pay = Service.objects.create(name="payments")
    with time_machine.travel(T0, tick=False) as clock:
        old_p2 = _open("a", "P2")
        clock.shift(60)
        p0 = _open("b", "P0", service=pay)
        clock.shift(60)
        new_p2 = _open("c", "P2", service=pay)
        done = _open("d", "P1")
        incident_resolve(incident_id=done.pk, actor=SYS, source="test")
    _login(client, operator)
    page = client.get("/ops/incidents/")
    assert page.status_code == 200
    html = page.content.decode()
    order = [int(x) for x in re.findall(r'<tr data-incident="(\d+)"', html)]
    assert order == [p0.pk, old_p2.pk, new_p2.pk]  # resolved hidden by default
    _no_inline_code(html)
    only = client.get("/ops/incidents/fragment/?severity=P2&service=payments").content.decode()
    assert re.findall(r'<tr data-incident="(\d+)"', only) == [str(new_p2.pk)]
    resolved = client.get("/ops/incidents/fragment/?status=resolved").content.decode()
    assert re.findall(r'<tr data-incident="(\d+)"', resolved) == [str(done.pk)]
    assert client.get("/ops/incidents/?status=<script>&severity=x").status_code == 200  # junk filters ignored


def test_detail_shows_timeline_alerts_notifications_and_escalation(client, operator):
    incident = _open("g", "P1", title="Checkout <b>slow</b>")
    _login(client, operator)
    page = client.get(f"/ops/incidents/{incident.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Checkout &lt;b&gt;slow&lt;/b&gt;" in html and "<b>slow</b>" not in html
    assert 'data-kind="opened"' in html and 'data-testid="escalation"' in html
    assert 'data-testid="ack-form"' in html
    _no_inline_code(html)
    assert client.get("/ops/incidents/999999/").status_code == 404


def test_operator_actions_go_through_the_services_with_source_ops(client, operator):
    incident = _open("g", "P1")
    _login(client, operator)
    url = f"/ops/incidents/{incident.pk}/act/"
    assert client.post(url, {"action": "acknowledge", "silence_minutes": "0"}).status_code == 302
    assert client.post(url, {"action": "assign", "assignee": str(operator.pk)}).status_code == 302
    assert client.post(url, {"action": "comment", "body": "looking at the db"}).status_code == 302
    assert client.post(url, {"action": "resolve", "note": "failover"}).status_code == 302
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.assignee == operator and incident.resolve_note == "failover"
    actions = list(AuditEntry.objects.filter(target_id=str(incident.pk), source="ops").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["incident.acknowledge", "incident.assign", "incident.comment", "incident.resolve"]
    # acting on a resolved incident: a message, not an error page
    response = client.post(url, {"action": "acknowledge"}, follow=True)
    assert response.status_code == 200 and "is resolved" in response.content.decode()
    assert client.post(url, {"action": "acknowledge", "silence_minutes": "lots"}, follow=True).status_code == 200
    assert client.post(url, {"action": "explode"}).status_code == 404
    assert client.post(url, {"action": "comment", "body": "x", "next": "https://evil.example/"})["Location"] == \
        f"/ops/incidents/{incident.pk}/"


def test_support_reads_but_cannot_act_and_anonymous_goes_to_login(client, support_user, auditor):
    incident = _open("g")
    assert client.get("/ops/incidents/")["Location"].startswith("/login/")  # the portal's sign-in page
    _login(client, support_user)
    page = client.get(f"/ops/incidents/{incident.pk}/")
    assert page.status_code == 200 and 'data-testid="ack-form"' not in page.content.decode()
    assert client.post(f"/ops/incidents/{incident.pk}/act/", {"action": "acknowledge"}).status_code == 403
    incident.refresh_from_db()
    assert incident.status == "triggered"
    _login(client, auditor)
    assert client.get("/ops/incidents/").status_code == 403


def test_actions_need_the_csrf_token(operator):
    incident = _open("g")
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(f"/ops/incidents/{incident.pk}/act/", {"action": "acknowledge"}).status_code == 403
    page = client.get(f"/ops/incidents/{incident.pk}/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    ok = client.post(f"/ops/incidents/{incident.pk}/act/", {"action": "acknowledge", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "acknowledged"


def test_report_and_csv_per_service_and_severity(client, operator):
    pay = Service.objects.create(name="=payments")
    with time_machine.travel(T0, tick=False) as clock:
        a = _open("a", "P1", service=pay)
        b = _open("b", "P1", service=pay)
        clock.shift(120)
        incident_acknowledge(incident_id=a.pk, actor=SYS, source="test")
        clock.shift(240)
        incident_acknowledge(incident_id=b.pk, actor=SYS, source="test")
        clock.shift(600)
        incident_resolve(incident_id=a.pk, actor=SYS, source="test")
    _open("outside")  # started now, outside the chosen period
    _login(client, operator)
    page = client.get("/ops/incidents/report/?since=2026-11-01&until=2026-11-30")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="inc-report-data"' in html and "vendor/chartjs/chart.umd.min.js" in html
    _no_inline_code(html)
    rows = list(csv.reader(io.StringIO(client.get("/ops/incidents/report.csv?since=2026-11-01&until=2026-11-30")
                                       .content.decode())))
    assert rows[0][:3] == ["service", "severity", "incidents"]
    assert rows[1] == ["'=payments", "P1", "2", "2", "1", "240.0", "960.0"]  # (120+360)/2; a resolved at 960 s
    assert len(rows) == 2
    assert client.get("/ops/incidents/report/?since=garbage").status_code == 200
    assert client.get("/ops/incidents/report/?since=2026-12-01&until=2026-01-01").status_code == 200


def test_overview_panel_counts_open_incidents_by_severity(client, operator):
    _open("a", "P0")
    _open("b", "P2")
    _open("c", "P2")
    _login(client, operator)
    html = client.get("/ops/panels/incidents/").content.decode()
    assert re.search(r'data-severity="P0"><a [^>]*><span class="ops-counter-value">1<', html)
    assert re.search(r'data-severity="P2"><a [^>]*><span class="ops-counter-value">2<', html)
    assert 'id="ops-panel-incidents"' in client.get("/ops/").content.decode()
