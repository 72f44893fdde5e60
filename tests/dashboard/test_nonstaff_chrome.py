"""A signed-in person without staff status (the demo's support) on /ops/ pages: user links, /logout/, no /admin/ links."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from opsportal.catalog.models import Service

pytestmark = pytest.mark.django_db
PAGES = ("/ops/", "/ops/incidents/", "/ops/runbooks/")


def _admin_links(html: str) -> list[str]:
    return re.findall(r'href="(/admin/[^"]*)"', html)


@pytest.fixture
def support_client(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("suki", password="pw-Opsportal-1", is_staff=False)
    user.groups.add(Group.objects.get(name="support"))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_support_sees_user_links_and_log_out_to_logout_and_no_admin_links(support_client, path):
    Service.objects.create(name="payments-api")  # the catalog panel lists it
    html = support_client.get(path).content.decode()
    assert 'id="user-tools"' in html, path
    assert re.search(r'<form id="logout-form" method="post" action="/logout/"', html), path
    assert _admin_links(html) == [], path


def test_staff_keep_the_admin_user_tools(client, operator):
    client.force_login(operator)
    html = client.get("/ops/").content.decode()
    assert 'id="user-tools"' in html and "/admin/" in html


def test_the_demo_support_user_signs_in_at_login_and_reads_ops_incidents_and_runbooks():
    call_command("seed_demo", stdout=StringIO())
    client = Client()
    reply = client.post("/login/", {"username": "support", "password": "support-demo", "next": "/ops/"})
    assert reply.status_code == 302 and reply["Location"] == "/ops/"
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    from reliability.incidents.models import Incident

    incident = Incident.objects.order_by("pk").first()
    assert client.get(f"/ops/incidents/{incident.pk}/").status_code == 200
    assert client.get("/admin/").status_code == 302  # not staff: the admin sends it to its own login
