"""The runbook checklist on /ops/incidents/<id>/ in Chromium: a tick reaches a second browser live; the page fits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audit.actors import Actor
from tests.e2e.conftest import in_thread, login

pytestmark = pytest.mark.browser
PASSWORD = "pw-Opsportal-1"
RESOLUTION = (
    "1. Check the provider's status page and the `circuit_breaker_state` panel for `stripe-api`.\n"
    "2. If the provider is healthy, restart the webhook workers:\n\n"
    "   ```\n   manage.py webhooks_retry --since 1h --source stripe-api-with-a-long-name-that-must-wrap\n   ```\n"
    "3. Confirm the DLQ drains below 100 and the 5xx ratio is back under 1 %.\n"
    "4. Tell #payments-support the incident is mitigated."
)


@pytest.fixture
def incident(transactional_db):
    from reliability.incidents.names import Source
    from reliability.incidents.services import AlertIn, GroupIn, alerts_ingest
    from runbooks.services import runbook_create
    from tests.runbooks.conftest import body

    sys = Actor.for_system("e2e")
    for slug, title, matchers in [
        ("checkout-errors-payments", "Checkout errors on the payments webhook",
         [{"label": "alertname", "op": "=", "value": "CheckoutErrors"},
          {"label": "service", "op": "=~", "value": "payments.*"}]),
        ("checkout-errors", "Checkout errors (any service)", [{"label": "alertname", "op": "=", "value": "CheckoutErrors"}]),
    ]:
        runbook_create(title=title, slug=slug, body=body(resolution=RESOLUTION), actor=sys, source="test",
                       status="published", matchers=matchers)
    alerts = [AlertIn(fingerprint=f"fp-{n}", status="firing",
                      labels={"alertname": "CheckoutErrors", "service": "payments-webhook", "severity": "critical",
                              "instance": f"checkout-{n}.eu-west-1.internal"},
                      annotations={"summary": "5xx ratio above 20 % for 5 minutes"}) for n in range(3)]
    result = alerts_ingest(group=GroupIn(source="alertmanager", group_key="e2e-checkout", alerts=alerts,
                                         common_labels={"alertname": "CheckoutErrors", "service": "payments-webhook"},
                                         title="Checkout failing for every card network in eu-west-1"),
                           actor=sys, source=Source.ALERTMANAGER)
    return result.incident_id


@pytest.fixture
def second_operator(make_user):
    return make_user("oscar", "operator")


@pytest.fixture
def support_nonstaff(db, django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user(username="suki", password=PASSWORD, is_staff=False)
    user.groups.add(Group.objects.get(name="support"))
    return user


def _portal_login(pg, base: str, username: str) -> None:
    pg.goto(f"{base}/login/")
    pg.fill("#id_username", username)
    pg.fill("#id_password", PASSWORD)
    with pg.expect_navigation():
        pg.click("input[type=submit]")
    assert "/login/" not in pg.url, f"login as {username} failed"


def test_a_tick_reaches_a_second_browser_live(incident, asgi_live_server, operator, second_operator, browser):
    pages = []
    for user in (operator, second_operator):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        pg = context.new_page()
        login(pg, asgi_live_server, user, PASSWORD)
        pg.goto(f"{asgi_live_server}/ops/incidents/{incident}/")
        expect(pg.locator("#ops-connection")).to_have_attribute("data-state", "open")
        pages.append(pg)
    acting, watching = pages
    watching.evaluate("window.__sameDocument = true")
    step = '[data-testid=checklist] li[data-step="3"]'
    expect(watching.locator(step)).to_have_attribute("data-done", "0")
    acting.locator("[data-testid=tick-3]").click()
    expect(acting.locator(step)).to_have_attribute("data-done", "1")
    expect(watching.locator(step)).to_have_attribute("data-done", "1", timeout=10_000)  # condition wait, no reload
    expect(watching.locator('.inc-timeline li[data-kind="checklist"]')).to_have_count(1)
    assert watching.evaluate("window.__sameDocument") is True

    from reliability.incidents.models import IncidentEvent

    rows = in_thread(lambda: list(IncidentEvent.objects.filter(incident_id=incident, kind="checklist")
                                  .values_list("actor_label", "data__step")))
    assert rows == [("olivia", 2)]


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("who", ["operator", "support"])
def test_the_detail_page_with_runbooks_and_checklist_fits_the_screen(incident, asgi_live_server, operator,
                                                                    support_nonstaff, browser, width, who):
    from reliability.incidents.services.checklist import incident_checklist_tick

    in_thread(incident_checklist_tick, incident_id=incident, actor=Actor.for_system("e2e"), source="test", step=0)
    shots = Path(os.environ["OPSPORTAL_SCREENSHOTS"]) if os.environ.get("OPSPORTAL_SCREENSHOTS") else None
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors, bad = [], []
    pg.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
          and errors.append(msg.text))
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and bad.append((r.status, r.url)))
    if who == "operator":
        login(pg, asgi_live_server, operator, PASSWORD)
    else:
        _portal_login(pg, asgi_live_server, "suki")
    pg.goto(f"{asgi_live_server}/ops/incidents/{incident}/")
    expect(pg.locator("#ops-connection")).to_have_attribute("data-state", "open")
    expect(pg.locator("[data-testid=runbooks] li")).to_have_count(2)
    expect(pg.locator("[data-testid=checklist] li")).to_have_count(4)
    expect(pg.locator("[data-testid=tick-1]")).to_have_count(1 if who == "operator" else 0)
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(shots / f"incident-checklist-{who}-{width}.png"), full_page=True)
    overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{who} at {width}px overflows by {overflow}px"
    assert errors == [] and bad == []
