"""Content-Security-Policy (issue #8 item 10a): every HTML page carries it, and in Chromium the
admin, the live dashboard and the API docs run under it with no violation — and the
dashboard still updates live."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import expect

from audit.actors import Actor
from opsportal.catalog.services import service_create
from tests.e2e.conftest import in_thread, login

PASSWORD = "pw-Opsportal-1"

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def superuser(make_user):
    return make_user("root", superuser=True)


def _violations(page) -> list[str]:
    found = list(page.evaluate("window.__csp || []"))
    found += [m for m in page.problems.console_errors if "Content Security Policy" in m]
    return found


@pytest.mark.django_db
def test_every_html_page_carries_the_policy(client, superuser):
    assert "script-src 'self'" in client.get("/admin/login/")["Content-Security-Policy"]
    client.force_login(superuser)
    for path in ("/admin/", "/ops/", "/api/docs/", "/admin/catalog/service/add/"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert "frame-ancestors 'none'" in policy
    assert client.get("/no-such-page/")["Content-Security-Policy"]


@pytest.mark.browser
def test_admin_dashboard_and_docs_run_without_csp_violations(asgi_live_server, superuser, page):
    page.context.add_init_script(WATCH_VIOLATIONS)
    page.goto(f"{asgi_live_server}/admin/login/")
    assert _violations(page) == []
    login(page, asgi_live_server, superuser, PASSWORD)
    for path in ("/admin/", "/admin/catalog/service/", "/admin/catalog/service/add/",
                 "/admin/audit/auditentry/", "/admin/auth/user/"):
        page.goto(f"{asgi_live_server}{path}")
        page.wait_for_load_state("load")
        assert _violations(page) == [], path

    page.goto(f"{asgi_live_server}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("opsportal API", timeout=10_000)
    assert _violations(page) == [], "/api/docs/"

    page.problems.clear()
    page.goto(f"{asgi_live_server}/ops/")
    expect(page.locator("#ops-connection")).to_have_attribute("data-state", "open")
    # The dashboard still updates live under the policy: a change elsewhere appears in the feed.
    created = in_thread(service_create, name="csp-live", actor=Actor.for_system("e2e"), source="test")
    expect(page.locator('#ops-panel-catalog-recent tr[data-service="csp-live"]')).to_be_visible(timeout=5_000)
    assert created.pk
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.locator("head style").count() == 0  # htmx injected no inline <style>
    assert _violations(page) == [], "/ops/"
    assert page.problems.console_errors == []
    assert httpx.get(f"{asgi_live_server}/ops/", follow_redirects=False).status_code in (302, 200)
