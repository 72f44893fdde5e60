"""Admin, API and /ops/ call the same services: same audit entry (only `source` differs)."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers

from audit.models import AuditEntry
from reliability.breakers.models import BreakerTransition, CircuitBreaker

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def pay(process_registry):
    return CircuitBreaker.objects.create(name="pay", minimum_calls=5)


# --- API ------------------------------------------------------------------------------------

def test_list_shows_state_config_last_transition_and_live_figures(pay, support_user, user_client, process_registry,
                                                                   django_assert_max_num_queries):
    from reliability.breakers import breaker

    b = breaker("pay")
    for _ in range(3):
        b.call(lambda: "ok")
    BreakerTransition.objects.create(breaker=pay, from_state="closed", to_state="open", cause="failure_rate")
    CircuitBreaker.objects.create(name="slack")
    client = user_client(support_user)
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/breakers/")
    assert response.status_code == 200
    rows = {r["name"]: r for r in response.json()["results"]}
    assert set(rows) == {"pay", "slack"}
    assert rows["pay"]["minimum_calls"] == 5
    assert rows["pay"]["last_transition"]["to"] == "open"
    assert rows["pay"]["live"]["calls"] == 3
    assert rows["slack"]["last_transition"] is None


def test_read_token_reads_and_cannot_write(pay, token_client):
    client = token_client("read")
    assert client.get("/api/v1/breakers/pay/").json()["name"] == "pay"
    response = client.post("/api/v1/breakers/pay/force-open/", {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM


def test_write_scope_token_acts(pay, token_client):
    client = token_client("breakers:write")
    response = client.post("/api/v1/breakers/pay/force-open/", {"reason": "provider outage"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["breaker"]["state"] == "forced_open"
    entry = AuditEntry.objects.get(action="breaker.force_open")
    assert entry.actor_kind == "token"


def test_support_role_cannot_act(pay, support_user, user_client):
    response = user_client(support_user).post("/api/v1/breakers/pay/reset/", {"reason": "x"}, format="json")
    assert response.status_code == 403


def test_api_errors_are_problems(pay, operator, user_client):
    client = user_client(operator)
    missing = client.post("/api/v1/breakers/pay/force-open/", {}, format="json")
    assert missing.status_code == 400
    assert missing["Content-Type"] == PROBLEM
    assert "reason" in missing.json()["errors"]
    unknown = client.post("/api/v1/breakers/nope/reset/", {"reason": "r"}, format="json")
    assert unknown.status_code == 404
    assert unknown["Content-Type"] == PROBLEM
    refused = client.post("/api/v1/breakers/pay/force-close/", {"reason": "r"}, format="json")
    assert refused.status_code == 409
    assert refused["Content-Type"] == PROBLEM
    assert "closed" in refused.json()["detail"]
    garbage = client.post("/api/v1/breakers/pay/reset/", "not json", content_type="application/json")
    assert garbage.status_code == 400
    anonymous = type(client)().get("/api/v1/breakers/")
    assert anonymous.status_code in (401, 403)
    assert anonymous["Content-Type"] == PROBLEM


# --- the same audit entry from every interface ----------------------------------------------------

def _force_open_via_api(client, operator):
    client.force_login(operator)
    response = client.post("/api/v1/breakers/pay/force-open/", {"reason": "provider outage"},
                           content_type="application/json")
    assert response.status_code == 200, response.content


def _force_open_via_admin(client, operator):
    client.force_login(operator)
    url = "/admin/breakers/circuitbreaker/"
    pk = CircuitBreaker.objects.get(name="pay").pk
    page = client.post(url, {"action": "force_open", helpers.ACTION_CHECKBOX_NAME: [pk]})
    assert page.status_code == 200
    assert b"give a reason" in page.content  # the intermediate page, nothing changed yet
    assert CircuitBreaker.objects.get(name="pay").state == "closed"
    done = client.post(url, {"action": "force_open", helpers.ACTION_CHECKBOX_NAME: [pk], "apply": "1",
                             "reason": "provider outage"})
    assert done.status_code == 302


def _force_open_via_dashboard(client, operator):
    client.force_login(operator)
    response = client.post("/ops/breakers/pay/", {"action": "force_open", "reason": "provider outage"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'data-state="forced_open"' in response.content  # the re-rendered panel


@pytest.mark.parametrize(
    ("interface", "source"),
    [(_force_open_via_api, "api"), (_force_open_via_admin, "admin"), (_force_open_via_dashboard, "dashboard")],
)
def test_every_interface_writes_the_same_audit_entry(interface, source, pay, operator, client,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        interface(client, operator)
    entry = AuditEntry.objects.get(action__startswith="breaker.")
    assert {
        "action": entry.action, "changes": entry.changes, "reason": entry.reason, "actor": entry.actor_label,
        "target": (entry.target_type, entry.target_id),
    } == {
        "action": "breaker.force_open", "changes": {"state": ["closed", "forced_open"]}, "reason": "provider outage",
        "actor": "olivia", "target": ("breakers.circuitbreaker", str(pay.pk)),
    }
    assert entry.source == source
    assert CircuitBreaker.objects.get(name="pay").state == "forced_open"


# --- admin ------------------------------------------------------------------------------------------

def test_admin_list_shows_coloured_state_rate_and_last_transition(pay, operator, client, process_registry):
    from reliability.breakers import breaker

    b = breaker("pay")
    b.call(lambda: 1)
    try:
        b.call(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    BreakerTransition.objects.create(breaker=pay, from_state="closed", to_state="open", cause="failure_rate")
    client.force_login(operator)
    page = client.get("/admin/breakers/circuitbreaker/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="breaker-state" data-state="closed"' in html
    assert "50.0 %" in html  # 1 of 2 calls failed
    assert "open (failure_rate)" in html


def test_admin_action_without_reason_asks_again(pay, operator, client):
    client.force_login(operator)
    page = client.post("/admin/breakers/circuitbreaker/", {
        "action": "disable", helpers.ACTION_CHECKBOX_NAME: [pay.pk], "apply": "1", "reason": "  "})
    assert page.status_code == 200
    assert b"This field is required" in page.content
    assert CircuitBreaker.objects.get(name="pay").state == "closed"


def test_admin_refused_action_is_a_message_not_an_error(pay, operator, client):
    client.force_login(operator)
    response = client.post("/admin/breakers/circuitbreaker/", {
        "action": "force_close", helpers.ACTION_CHECKBOX_NAME: [pay.pk], "apply": "1", "reason": "r"}, follow=True)
    assert response.status_code == 200
    assert b"does not apply" in response.content


def test_admin_config_edit_goes_through_the_service(pay, operator, client):
    client.force_login(operator)
    url = f"/admin/breakers/circuitbreaker/{pay.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    data = {f: getattr(pay, f) for f in CircuitBreaker.CONFIG_FIELDS}
    data.update({"service": "", "call_timeout": "", "open_duration": 45,
                 "transitions-TOTAL_FORMS": 0, "transitions-INITIAL_FORMS": 0})
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert CircuitBreaker.objects.get(pk=pay.pk).open_duration == 45
    assert AuditEntry.objects.get(action="breaker.configure").changes["open_duration"] == [30.0, 45.0]


def test_support_user_sees_but_cannot_act_in_admin(pay, support_user, client):
    client.force_login(support_user)
    page = client.get("/admin/breakers/circuitbreaker/")
    assert page.status_code == 200
    assert b"force_open" not in page.content


# --- /ops/ ------------------------------------------------------------------------------------------

def test_panel_renders_for_support_without_buttons(pay, support_user, client):
    from opsportal.dashboard.panels import panel_get

    panel = panel_get("breakers")
    assert panel is not None and panel.domain == "breaker"
    client.force_login(support_user)
    response = client.get("/ops/panels/breakers/")
    assert response.status_code == 200
    assert b'data-breaker="pay"' in response.content
    assert b"<form" not in response.content


def test_dashboard_action_needs_operator_and_reason(pay, support_user, operator, client):
    client.force_login(support_user)
    assert client.post("/ops/breakers/pay/", {"action": "reset", "reason": "r"}).status_code == 403
    client.force_login(operator)
    response = client.post("/ops/breakers/pay/", {"action": "force_open", "reason": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"a reason is required" in response.content
    assert client.post("/ops/breakers/pay/", {"action": "explode", "reason": "r"}).status_code == 404
    assert client.get("/ops/breakers/pay/").status_code == 405
    plain = client.post("/ops/breakers/pay/", {"action": "disable", "reason": "noisy"})
    assert plain.status_code == 302
    assert CircuitBreaker.objects.get(name="pay").state == "disabled"


def test_hostile_names_and_reasons_are_not_server_errors(pay, operator, client):
    client.force_login(operator)
    assert client.post("/ops/breakers/a%00b/", {"action": "reset", "reason": "r"}).status_code == 404
    assert client.get("/api/v1/breakers/" + "x" * 5000 + "/").status_code == 404
    response = client.post("/ops/breakers/pay/", {"action": "disable", "reason": "bad\x00byte"})
    assert response.status_code == 302
    assert BreakerTransition.objects.get(breaker=pay).reason == "bad\ufffdbyte"
    api = client.post("/api/v1/breakers/pay/reset/", {"reason": "x" * 5000}, content_type="application/json")
    assert api.status_code == 400


def test_admin_add_registers_through_the_service(make_user, client, process_registry):
    client.force_login(make_user("root", superuser=True))  # operators edit breakers; code (or a superuser) adds them
    data = {"name": "new-one", "service": "", "failure_rate_threshold": 40, "minimum_calls": 5, "window_type": "time",
            "window_size": 60, "slow_call_duration": 2, "slow_call_rate_threshold": 100, "open_duration": 10,
            "half_open_permitted_calls": 2, "success_threshold": 3, "call_timeout": "",
            "transitions-TOTAL_FORMS": 0, "transitions-INITIAL_FORMS": 0}
    invalid = client.post("/admin/breakers/circuitbreaker/add/", data)
    assert invalid.status_code == 200  # success threshold above the permitted probes
    assert b"cannot exceed" in invalid.content
    data["success_threshold"] = 2
    response = client.post("/admin/breakers/circuitbreaker/add/", data)
    assert response.status_code == 302
    cb = CircuitBreaker.objects.get(name="new-one")
    assert (cb.window_type, cb.window_size, cb.minimum_calls) == ("time", 60, 5)
    entry = AuditEntry.objects.get(action="breaker.register")
    assert (entry.actor_label, entry.source) == ("root", "admin")


def test_admin_add_with_a_service_is_one_service_call_one_audit_entry_one_event(make_user, client, process_registry):
    from opsportal.catalog.models import Service
    from opsportal.events.models import OutboxEvent

    payments = Service.objects.create(name="payments")
    client.force_login(make_user("root", superuser=True))
    data = {"name": "ledger", "service": payments.pk, "failure_rate_threshold": 40, "minimum_calls": 5,
            "window_type": "count", "window_size": 50, "slow_call_duration": 2, "slow_call_rate_threshold": 100,
            "open_duration": 10, "half_open_permitted_calls": 2, "success_threshold": 2, "call_timeout": "",
            "transitions-TOTAL_FORMS": 0, "transitions-INITIAL_FORMS": 0}
    audit_before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    events_before = OutboxEvent.objects.count()
    response = client.post("/admin/breakers/circuitbreaker/add/", data)
    assert response.status_code == 302
    cb = CircuitBreaker.objects.get(name="ledger")
    assert (cb.service_id, cb.window_size) == (payments.pk, 50)
    entries = AuditEntry.objects.filter(id__gt=audit_before)
    assert [(e.action, e.source, e.changes.get("service")) for e in entries] == [
        ("breaker.register", "admin", [None, payments.pk])
    ]
    assert OutboxEvent.objects.count() - events_before == 1
    assert OutboxEvent.objects.latest("id").type == "breaker.registered"
    # a taken name is a form error, not a second row or a server error
    again = client.post("/admin/breakers/circuitbreaker/add/", data)
    assert again.status_code == 200 and b"already exists" in again.content
    assert CircuitBreaker.objects.filter(name="ledger").count() == 1


def test_admin_form_validation_has_no_side_effects(make_user, process_registry):
    """is_valid() on the admin's form writes nothing: the service runs in save_model."""
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    from opsportal.events.models import OutboxEvent

    root = make_user("root2", superuser=True)
    request = RequestFactory().post("/admin/breakers/circuitbreaker/add/")
    request.user = root
    model_admin = site._registry[CircuitBreaker]
    form_class = model_admin.get_form(request, None, change=False)
    form = form_class(data={"name": "quiet", "failure_rate_threshold": 50, "minimum_calls": 5, "window_type": "count",
                            "window_size": 10, "slow_call_duration": 2, "slow_call_rate_threshold": 100,
                            "open_duration": 10, "half_open_permitted_calls": 2, "success_threshold": 2})
    assert form.is_valid(), form.errors
    assert not CircuitBreaker.objects.filter(name="quiet").exists()
    assert AuditEntry.objects.count() == 0 and OutboxEvent.objects.count() == 0
