"""/ops/incidents/ in Chromium: one operator acknowledges, the other sees it without a reload; no overflow."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.actors import Actor
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser
PASSWORD = "pw-Opsportal-1"


@pytest.fixture
def incidents(transactional_db):
    from opsportal.catalog.models import Service
    from reliability.incidents.models import Alert, EscalationPolicy, EscalationStep, NotificationChannel
    from reliability.incidents.services import incident_comment, incident_open

    sys = Actor.for_system("e2e")
    pay = Service.objects.create(name="payments-webhook")
    mail = NotificationChannel.objects.create(name="oncall-mail", kind="email", config={"to": ["oncall@example.test"]})
    policy = EscalationPolicy.objects.create(name="payments default", loops=2)
    EscalationStep.objects.create(policy=policy, order=1, wait_minutes=15).channels.add(mail)
    made = []
    for i, (sev, title) in enumerate([("P0", "Checkout failing for every card network in eu-west-1 and us-east-1"),
                                      ("P1", "Webhook deliveries to stripe-api are failing"),
                                      ("P2", "Disk 91 % full on db-replica-3")]):
        incident = incident_open(title=title, severity=sev, group_key=f"e2e-{i}", actor=sys, source="test",
                                 service=pay, escalation_policy=policy,
                                 group_labels={"alertname": "CheckoutErrors", "service": "payments-webhook"})
        made.append(incident)
    import time_machine
    from django.utils import timezone

    from reliability.incidents.services import incident_acknowledge, incident_resolve

    past = timezone.now() - timedelta(days=3)
    for i, (sev, ack_min, fix_min) in enumerate([("P1", 4, 30), ("P1", 9, 70), ("P2", 25, 180)]):
        with time_machine.travel(past, tick=False) as clock:  # history for the report's chart
            old = incident_open(title=f"earlier {i}", severity=sev, group_key=f"old-{i}", actor=sys, source="test",
                                service=pay)
            clock.shift(ack_min * 60)
            incident_acknowledge(incident_id=old.pk, actor=sys, source="test")
            clock.shift((fix_min - ack_min) * 60)
            incident_resolve(incident_id=old.pk, actor=sys, source="test")
    first = made[0]
    for n in range(3):
        Alert.objects.create(fingerprint=f"fp-{n}", incident=first, status="firing", first_received_at=first.started_at,
                             last_received_at=first.started_at, labels={"alertname": "CheckoutErrors",
                                                                         "instance": f"checkout-{n}.eu-west-1.internal",
                                                                         "service": "payments-webhook"},
                             annotations={"summary": "5xx ratio above 20 % for 5 minutes"})
    incident_comment(incident_id=first.pk, actor=sys, source="test", body="Rolling back deploy 2026-12-01.3")
    from reliability.incidents.services.escalation import escalation_sweep

    escalation_sweep()
    return made


@pytest.fixture
def second_operator(make_user):
    return make_user("oscar", "operator")


def test_one_operator_acknowledges_and_the_other_sees_it_live(incidents, asgi_live_server, operator,
                                                              second_operator, browser):
    pages = []
    for user in (operator, second_operator):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(5_000)
        pg = context.new_page()
        login(pg, asgi_live_server, user, PASSWORD)
        pg.goto(f"{asgi_live_server}/ops/incidents/")
        expect(pg.locator("#ops-connection")).to_have_attribute("data-state", "open")
        pages.append(pg)
    acting, watching = pages
    target = incidents[1]
    watching.evaluate("window.__sameDocument = true")
    row = f'#inc-list tr[data-incident="{target.pk}"]'
    expect(watching.locator(row)).to_have_attribute("data-status", "triggered")

    acting.locator(row).locator("[data-testid=ack]").click()
    expect(acting.locator(row)).to_have_attribute("data-status", "acknowledged")
    expect(watching.locator(row)).to_have_attribute("data-status", "acknowledged", timeout=2_000)
    expect(watching.locator(row).locator("[data-testid=incident-status]")).to_have_text("acknowledged")
    assert watching.evaluate("window.__sameDocument") is True

    from reliability.incidents.models import Incident

    status, by = in_thread(lambda: Incident.objects.filter(pk=target.pk).values_list("status", "acknowledged_by")
                           .get())
    assert (status, by) == ("acknowledged", "olivia")


@pytest.mark.parametrize("width", [1280, 390])
def test_list_detail_and_report_fit_the_screen(incidents, asgi_live_server, operator, browser, width):
    shots = Path(os.environ.get("OPSPORTAL_SCREENSHOTS", "")) if os.environ.get("OPSPORTAL_SCREENSHOTS") else None
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(5_000)
    pg = context.new_page()
    errors, bad = [], []
    pg.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
          and errors.append(msg.text))
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and bad.append((r.status, r.url)))
    login(pg, asgi_live_server, operator, PASSWORD)
    for name, path in [("list", "/ops/incidents/"), ("detail", f"/ops/incidents/{incidents[0].pk}/"),
                       ("report", "/ops/incidents/report/")]:
        pg.goto(f"{asgi_live_server}{path}")
        expect(pg.locator("#ops-connection")).to_have_attribute("data-state", "open")
        if name == "report":
            pg.wait_for_function("window.incidentReportChart !== undefined")
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(shots / f"incidents-{name}-{width}.png"), full_page=True)
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} at {width}px overflows by {overflow}px"
    assert errors == [] and bad == []
