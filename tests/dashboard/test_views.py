"""/ops/, its panel fragments and counters: who may see what; the admin chrome around them."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.actors import Actor
from opsportal.catalog.services import service_create
from opsportal.dashboard.panels import Panel, panel_get, register_panel, unregister_panel
from opsportal.events.models import OutboxEvent

pytestmark = pytest.mark.django_db

SYSTEM = Actor.for_system("test")


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def audit_panel():
    """A panel in the audit domain, registered the way features do it."""
    register_panel(Panel(key="test-audit", title="Audit", template="dashboard/_counters.html", domain="audit",
                         context=lambda request: {"counters": [{"key": "x", "label": "secret", "value": 7}]}))
    yield panel_get("test-audit")
    unregister_panel("test-audit")


@pytest.fixture
def broken_panel():
    def boom(request):
        raise RuntimeError("panel bug")

    register_panel(Panel(key="test-broken", title="Broken", template="dashboard/_counters.html", domain="catalog", context=boom))
    yield
    unregister_panel("test-broken")


@pytest.fixture
def non_staff(django_user_model):
    return django_user_model.objects.create_user(username="nina", password="pw-Opsportal-1", is_staff=False)


@pytest.mark.parametrize("path", ["/ops/", "/ops/counters/", "/ops/panels/catalog-recent/"])
def test_anonymous_is_sent_to_the_portal_sign_in(path):
    response = _client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_anonymous_htmx_request_reloads_the_page_instead_of_swapping_the_login_form():
    response = _client().get("/ops/panels/catalog-recent/", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response["HX-Refresh"] == "true"


@pytest.mark.parametrize("path", ["/ops/", "/ops/counters/", "/ops/panels/catalog-recent/"])
def test_signed_in_without_a_role_is_forbidden(non_staff, path):
    assert _client(non_staff).get(path).status_code == 403


@pytest.mark.parametrize("path", ["/ops/", "/ops/counters/", "/ops/panels/catalog-recent/"])
def test_roles_not_staff_status_open_the_dashboard(non_staff, path):
    from django.contrib.auth.models import Group

    non_staff.groups.add(Group.objects.get(name="support"))
    assert _client(non_staff).get(path).status_code == 200


def test_overview_renders_in_the_admin_look_with_panels_feed_and_assets(operator):
    service_create(name="payments", actor=SYSTEM, source="test")
    event = OutboxEvent.objects.get(type="catalog.service_created")

    client = _client(operator)  # signing in emits auth.login: the newest event, the page's catch-up anchor
    latest = OutboxEvent.objects.order_by("-id").first()
    response = client.get("/ops/")

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    html = response.content.decode()
    assert 'id="site-name"><a href="/admin/">opsportal</a>' in html
    assert '<a href="/admin/" id="nav-admin">Admin</a>' in html
    assert "/static/admin/css/base.css" in html
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer>' in html
    assert '<script src="/static/ops/ops.js" defer>' in html
    assert 'data-ws-path="/ws/ops/"' in html and f'data-cursor="{latest.uuid}"' in html
    assert 'data-panel-domain="catalog" data-panel-url="/ops/panels/catalog-recent/"' in html
    assert '<tr data-service="payments">' in html
    assert f'data-event-id="{event.uuid}" data-domain="catalog"' in html
    assert 'data-counter="services"' in html


def test_feed_and_counters_follow_the_users_domains(support_user, auditor, issue_token):
    issue_token("read", service="payments")  # catalog.service_created + token.issued
    token_event = OutboxEvent.objects.get(type="token.issued")

    support_html = _client(support_user).get("/ops/").content.decode()
    auditor_html = _client(auditor).get("/ops/").content.decode()

    assert f'data-event-id="{token_event.uuid}"' not in support_html
    assert 'data-event-type="catalog.service_created"' in support_html
    assert 'data-counter="audit_24h"' not in support_html
    assert f'data-event-id="{token_event.uuid}"' in auditor_html
    assert 'data-counter="audit_24h"' in auditor_html


def test_panel_fragment_is_just_the_fragment(operator):
    service_create(name="payments", team="pay", actor=SYSTEM, source="test")
    response = _client(operator).get("/ops/panels/catalog-recent/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<tr data-service="payments">' in html
    assert "<html" not in html and "<body" not in html


def test_panel_of_a_domain_the_user_may_not_see_is_404_and_absent_from_the_page(support_user, auditor, audit_panel):
    assert _client(support_user).get("/ops/panels/test-audit/").status_code == 404
    assert 'id="ops-panel-test-audit"' not in _client(support_user).get("/ops/").content.decode()

    response = _client(auditor).get("/ops/panels/test-audit/")
    assert response.status_code == 200 and b"secret" in response.content
    assert 'data-panel-domain="audit"' in _client(auditor).get("/ops/").content.decode()


def test_unknown_panel_is_404_and_writes_are_refused(operator):
    assert _client(operator).get("/ops/panels/nope/").status_code == 404
    assert _client(operator).post("/ops/").status_code == 405


def test_a_failing_panel_shows_an_error_box_not_a_500(operator, broken_panel):
    page = _client(operator).get("/ops/")
    assert page.status_code == 200
    assert "could not be rendered" in page.content.decode()
    assert 'id="ops-panel-catalog-recent"' in page.content.decode()  # the other panels still render
    assert b"could not be rendered" in _client(operator).get("/ops/panels/test-broken/").content


def test_counters_fragment(support_user, auditor):
    service_create(name="payments", actor=SYSTEM, source="test")
    html = _client(support_user).get("/ops/counters/").content.decode()
    assert 'data-counter="services"><span class="ops-counter-value">1</span>' in html
    assert 'data-counter="audit_24h"' in _client(auditor).get("/ops/counters/").content.decode()


def test_admin_is_branded_and_links_to_the_dashboard(operator):
    html = _client(operator).get("/admin/").content.decode()
    assert 'id="site-name"><a href="/admin/">opsportal</a>' in html
    assert '<a href="/ops/" id="nav-ops">Live dashboard</a>' in html
    assert "<title>Site administration | opsportal</title>" in html


def test_admin_login_page_is_branded():
    html = _client().get("/admin/login/").content.decode()
    assert "opsportal" in html and "Django administration" not in html


def test_register_panel_validates_key_and_domain():
    with pytest.raises(ValueError):
        register_panel(Panel(key="Bad Key", title="x", template="x.html", domain="catalog"))
    with pytest.raises(ValueError):
        register_panel(Panel(key="ok", title="x", template="x.html", domain="nonsense"))
    assert panel_get("ok") is None


def test_vendored_static_files_are_served_under_wsgi():
    response = _client().get("/static/vendor/htmx/htmx.min.js")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"var htmx=function()")
    assert _client().get("/static/ops/ops.js").status_code == 200


def test_site_root_leads_to_the_dashboard(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/ops/"
