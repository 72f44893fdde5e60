"""Lockout abuse (issue #8 item 4): axes keys on the trusted client IP, locks (username, IP)
pairs, and limits each IP across usernames."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db
LOGIN = reverse("admin:login")
PASSWORD = "pw-Opsportal-1"  # tests/conftest.py make_user
PROXY = "127.0.0.1"  # the reverse proxy: its X-Real-IP is believed


def _login(client, username: str, password: str, *, ip: str, peer: str = PROXY):
    client.logout()
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=peer, HTTP_X_REAL_IP=ip)


def test_a_user_locked_out_from_one_ip_still_signs_in_from_another(client, operator):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "olivia", "wrong", ip="198.51.100.66")
    assert _login(client, "olivia", PASSWORD, ip="198.51.100.66").status_code == 429  # the attacker's IP
    assert _login(client, "olivia", PASSWORD, ip="203.0.113.5").status_code == 302  # olivia, elsewhere


def test_the_per_ip_limit_blocks_one_ip_spraying_many_usernames(client, operator):
    attacker = "198.51.100.77"
    per_user = settings.AXES_FAILURE_LIMIT - 1  # stays under the (username, IP) limit
    sprayed = 0
    n = 0
    while sprayed < settings.AXES_IP_FAILURE_LIMIT:
        for _ in range(per_user):
            _login(client, f"guess{n}", "wrong", ip=attacker)
            sprayed += 1
        n += 1
    assert _login(client, "olivia", PASSWORD, ip=attacker).status_code == 429
    assert _login(client, "olivia", PASSWORD, ip="203.0.113.5").status_code == 302


def test_an_untrusted_peer_cannot_dodge_the_lockout_by_rotating_x_real_ip(client, operator):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "olivia", "wrong", ip=f"203.0.113.{i + 1}", peer="198.51.100.90")
    assert _login(client, "olivia", PASSWORD, ip="203.0.113.200", peer="198.51.100.90").status_code == 429


def test_settings_wire_axes_to_the_audit_trails_client_ip():
    assert settings.AXES_CLIENT_IP_CALLABLE == "audit.middleware.client_ip"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_IP_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT
