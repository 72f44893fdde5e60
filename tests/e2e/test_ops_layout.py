"""/ops/ and /admin/ fit the screen at desktop (1280 px) and phone (390 px) widths, seeded like `make run`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.e2e.conftest import login

pytestmark = pytest.mark.browser

# Nothing may be wider than its box: the page, a panel, a panel's body (which would scroll inside).
OVERFLOW_JS = """() => {
  const out = [];
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) out.push(`page ${page.scrollWidth}>${page.clientWidth}`);
  document.querySelectorAll('.ops-panel, .ops-panel-body, .ops-feed-module, #content-main .module').forEach(el => {
    const where = el.id || `${(el.closest(".ops-panel") || {}).id || ""} ${el.className}`.trim();
    if (el.scrollWidth > el.clientWidth + 1) out.push(`${where} ${el.scrollWidth}>${el.clientWidth}`);
  });
  return out;
}"""


def _portal_login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "/login/" not in page.url, f"login as {username} at /login/ failed"


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115 - the printed logins are noise here


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("user", ["operator", "support"])
def test_ops_and_admin_fit_the_screen(demo, asgi_live_server, browser, user, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        if user == "support":  # not staff: the portal's sign-in, and the admin is not theirs to check
            _portal_login(page, asgi_live_server, user, f"{user}-demo")
        else:
            login(page, asgi_live_server, user, f"{user}-demo")
        page.goto(f"{asgi_live_server}/ops/")
        page.wait_for_selector("#ops-connection[data-state=open]")
        if user == "operator":  # the seeded DLQ items, with their action column
            assert page.locator(".ops-dlq td.dlq-actions").count() >= 1
            box = page.locator("#ops-panel-dlq").bounding_box()
            for cell in page.locator(".ops-dlq td.dlq-actions").all():
                cell_box = cell.bounding_box()
                assert cell_box["x"] + cell_box["width"] <= box["x"] + box["width"] + 1, "the action column sticks out"
        shots = os.environ.get("OPSPORTAL_SCREENSHOTS")
        if shots:  # look at it, not only measure it
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / f"ops-{user}-{width}.png"), full_page=True)
            if user == "operator":
                page.locator("#ops-panel-dlq").screenshot(path=str(Path(shots) / f"ops-dlq-{width}.png"))
        assert page.locator("#ops-feed .ops-text").count() >= 1
        assert page.evaluate(OVERFLOW_JS) == [], f"/ops/ overflows at {width}px"
        if user != "support":
            page.goto(f"{asgi_live_server}/admin/")
            assert page.evaluate(OVERFLOW_JS) == [], f"/admin/ overflows at {width}px"
    finally:
        context.close()
