"""The admin: operators add and edit runbooks through the services (versions, audit); support only views."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from runbooks.models import Runbook

from .conftest import body

pytestmark = pytest.mark.django_db
ADD = "/admin/runbooks/runbook/add/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**extra):
    return {"title": "Cache stampede", "slug": "cache-stampede", "severity": "P2", "status": "published",
            "review_interval_days": 90, "matchers": "[]", "body": body(), "change_note": "",
            "versions-TOTAL_FORMS": 0, "versions-INITIAL_FORMS": 0, "versions-MIN_NUM_FORMS": 0,
            "versions-MAX_NUM_FORMS": 0, **extra}


def test_operator_adds_and_edits_in_the_admin_through_the_services(operator):
    client = _client(operator)
    response = client.post(ADD, _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    rb = Runbook.objects.get()
    assert rb.current_version.number == 1
    change = f"/admin/runbooks/runbook/{rb.pk}/change/"
    assert client.get(change).status_code == 200
    response = client.post(change, _form(body=body("\nSecond.\n"), change_note="second", versions_INITIAL_FORMS=1))
    assert response.status_code == 302, response.content.decode()[:2000]
    rb.refresh_from_db()
    assert rb.current_version.number == 2
    actions = list(AuditEntry.objects.filter(target_type="runbooks.runbook").order_by("id").values_list("action", "source"))
    assert actions == [("runbook.create", "admin"), ("runbook.update", "admin")]


def test_admin_refuses_a_body_missing_a_section(operator):
    response = _client(operator).post(ADD, _form(body=body().replace("## Diagnosis", "## Look")))
    assert response.status_code == 200 and "missing required section(s): Diagnosis" in response.content.decode()
    assert not Runbook.objects.exists()


def test_support_staff_can_view_but_not_change_in_the_admin(support_user, make_runbook):
    rb = make_runbook()
    client = _client(support_user)
    assert client.get("/admin/runbooks/runbook/").status_code == 200
    assert client.get(ADD).status_code == 403
    assert client.post(f"/admin/runbooks/runbook/{rb.pk}/change/", _form(title="Hijacked")).status_code == 403
    assert Runbook.objects.get().title != "Hijacked"
