"""/ops/reports/reliability/ in Chromium: the figures, the CSV link, the print layout; screenshots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import asgi_live_server, browser, login, page  # noqa: F401, F811 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("REPORT_SCREENSHOTS", "/tmp/report-screenshots"))
PASSWORD = "pw-Opsportal-1"
URL = "/ops/reports/reliability/"


@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_shows_the_report_and_prints_clean(world, asgi_live_server, support_user, browser, width):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors, bad = [], []
    pg.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
          and errors.append(msg.text))
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and bad.append((r.status, r.url)))
    try:
        login(pg, asgi_live_server, support_user, PASSWORD)  # support: a reader, not an operator
        pg.goto(f"{asgi_live_server}{URL}?period=month:2026-11")
        expect(pg.locator("h1")).to_contain_text("month:2026-11")
        expect(pg.locator("[data-testid=dlq-added]")).to_have_text("5")
        expect(pg.locator("[data-testid=slos]")).to_contain_text("No SLOs are defined")
        expect(pg.locator("[data-testid=chaos]")).to_contain_text("No drills ran in this period")
        table = pg.locator("[data-testid=incidents] table")
        expect(table).to_contain_text("payments")
        expect(table).to_contain_text("3 m 00 s")  # MTTA of payments P1 (2 and 4 minutes)
        expect(table).to_contain_text("45 m 00 s")  # MTTR (30 and 60 minutes)
        assert pg.locator("[data-testid=csv]").get_attribute("href") == (
            "/api/v1/reports/reliability.csv?period=month:2026-11")
        overflow = pg.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / f"reliability-{width}.png"), full_page=True)
        assert overflow <= 0, f"overflows by {overflow}px"  # wide tables scroll inside their box
        if width == 1280:
            pg.emulate_media(media="print")
            expect(pg.locator(".rep-controls")).to_be_hidden()
            expect(pg.locator("#header")).to_be_hidden()
            pg.screenshot(path=str(SHOTS / "reliability-print.png"), full_page=True)
            pg.emulate_media(media="screen")
            # the CSV link answers for the signed-in reader (session auth), as CSV
            resp = pg.request.get(f"{asgi_live_server}/api/v1/reports/reliability.csv?period=month:2026-11")
            assert resp.status == 200 and resp.headers["content-type"].startswith("text/csv")
        pg.goto(f"{asgi_live_server}{URL}?period=month:2026-13")
        expect(pg.locator(".errornote")).to_contain_text("no such month")
        assert errors == [] and [b for b in bad if "month:2026-13" not in b[1]] == []
    finally:
        context.close()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    resp = client.get(URL)
    assert resp.status_code == 302 and resp["Location"].startswith("/login/")


def test_a_user_without_a_portal_role_is_refused(client, make_user):
    client.force_login(make_user("nobody"))
    assert client.get(URL).status_code == 403
