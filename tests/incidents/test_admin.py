"""Admin: incidents change only through service actions; config models validate matchers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.actors import Actor
from audit.models import AuditEntry
from reliability.incidents.models import Incident
from reliability.incidents.services import incident_open

pytestmark = pytest.mark.django_db


def _incident(key="g"):
    return incident_open(title="Disk", severity="P1", group_key=key, actor=Actor.for_system("t"), source="test")


def test_operator_acknowledges_and_resolves_from_the_admin(operator, client):
    a, b = _incident("a"), _incident("b")
    client.force_login(operator)
    url = reverse("admin:incidents_incident_changelist")
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:incidents_incident_change", args=[a.pk])).status_code == 200
    resp = client.post(url, {"action": "acknowledge", "_selected_action": [a.pk]}, follow=True)
    assert resp.status_code == 200
    a.refresh_from_db()
    assert a.status == "acknowledged" and a.acknowledged_by == "olivia"
    client.post(url, {"action": "resolve", "_selected_action": [a.pk, b.pk]}, follow=True)
    assert set(Incident.objects.values_list("status", flat=True)) == {"resolved"}
    assert AuditEntry.objects.filter(action="incident.resolve", source="admin").count() == 2
    resp = client.post(url, {"action": "resolve", "_selected_action": [a.pk]}, follow=True)
    assert "is resolved" in resp.content.decode()  # refused, said why


def test_support_sees_incidents_but_has_no_actions(support_user, client):
    inc = _incident()
    client.force_login(support_user)
    url = reverse("admin:incidents_incident_changelist")
    assert client.get(url).status_code == 200
    client.post(url, {"action": "resolve", "_selected_action": [inc.pk]}, follow=True)
    inc.refresh_from_db()
    assert inc.status == "triggered"


def test_routing_rule_form_rejects_a_bad_regex(operator, client):
    client.force_login(operator)
    resp = client.post(reverse("admin:incidents_routingrule_add"), {
        "name": "r", "order": 1, "matchers": '[{"label": "a", "op": "=~", "value": "("}]', "enabled": "on"})
    assert resp.status_code == 200 and "invalid regular expression" in resp.content.decode()


@pytest.mark.parametrize("model", ["incident", "alert", "incidentevent", "silence", "notification", "routingrule",
                                   "maintenancewindow", "severitymapping", "escalationpolicy", "oncallrotation",
                                   "notificationchannel"])
def test_every_model_has_an_admin(admin_client, model):
    assert admin_client.get(reverse(f"admin:incidents_{model}_changelist")).status_code == 200
