"""Spoofed audit IPs (issue #8 item 3): X-Real-IP / X-Forwarded-For are believed only from a
peer in TRUSTED_PROXY_CIDRS (loopback by default), and the deploy configs say the same."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse

from audit.middleware import client_ip
from audit.models import AuditEntry

SPOOF = "203.0.113.66"


def _ip(remote: str, **headers: str) -> str | None:
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    return client_ip(request)


@pytest.mark.parametrize("peer", ["10.0.0.7", "172.18.0.5", "192.168.1.20", "198.51.100.4", "fd00::5"])
def test_spoofed_headers_from_an_untrusted_peer_are_ignored(peer):
    assert _ip(peer, HTTP_X_REAL_IP=SPOOF) == peer
    assert _ip(peer, HTTP_X_FORWARDED_FOR=SPOOF) == peer
    assert _ip(peer, HTTP_X_REAL_IP=SPOOF, HTTP_X_FORWARDED_FOR=f"{SPOOF}, 127.0.0.1") == peer


def test_the_trusted_proxys_headers_are_used():
    assert _ip("127.0.0.1", HTTP_X_REAL_IP="198.51.100.9") == "198.51.100.9"
    assert _ip("::1", HTTP_X_REAL_IP="2001:db8::9") == "2001:db8::9"
    # X-Forwarded-For: the right-most hop that is not a trusted proxy; what the client wrote
    # on the left is not believed.
    assert _ip("127.0.0.1", HTTP_X_FORWARDED_FOR=f"{SPOOF}, 198.51.100.9") == "198.51.100.9"
    assert _ip("127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9, 127.0.0.1") == "198.51.100.9"
    assert _ip("127.0.0.1", HTTP_X_FORWARDED_FOR="garbage, 198.51.100.9") == "198.51.100.9"
    assert _ip("127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9, garbage") == "127.0.0.1"


def test_trusted_proxy_cidrs_setting_names_the_proxy(settings):
    settings.TRUSTED_PROXY_CIDRS = ["172.30.0.10/32"]
    assert _ip("172.30.0.10", HTTP_X_REAL_IP="198.51.100.9") == "198.51.100.9"
    assert _ip("172.30.0.11", HTTP_X_REAL_IP=SPOOF) == "172.30.0.11"
    assert _ip("127.0.0.1", HTTP_X_REAL_IP=SPOOF) == "127.0.0.1"  # loopback no longer trusted


@pytest.mark.django_db
def test_audit_entry_records_the_peer_not_the_spoofed_header(client):
    login = reverse("admin:login")
    client.post(login, {"username": "nobody", "password": "x"}, REMOTE_ADDR="10.0.0.7", HTTP_X_REAL_IP=SPOOF)
    client.post(login, {"username": "nobody", "password": "x"}, REMOTE_ADDR="127.0.0.1",
                HTTP_X_REAL_IP="198.51.100.9")
    ips = list(AuditEntry.objects.filter(action="auth.login_failed").order_by("id").values_list("ip", flat=True))
    assert ips == ["10.0.0.7", "198.51.100.9"]


# --- the deploy configuration says the same -------------------------------------------------------


def _read(path: str) -> str:
    return (settings.BASE_DIR / path).read_text()


def test_nginx_sets_clean_forwarding_headers_everywhere_it_proxies():
    conf = _read("deploy/nginx.conf")
    proxied = conf.count("proxy_pass ")
    assert proxied >= 3
    assert conf.count("proxy_set_header X-Real-IP $remote_addr;") == proxied
    assert conf.count("proxy_set_header X-Forwarded-For $remote_addr;") == proxied
    assert "$proxy_add_x_forwarded_for" not in conf  # would pass the client's own header on


def test_app_servers_trust_forwarded_headers_only_from_the_proxy():
    gunicorn = _read("deploy/gunicorn.conf.py")
    assert not re.search(r"FORWARDED_ALLOW_IPS\"?,\s*\"\*\"", gunicorn)
    compose = _read("docker-compose.yml")
    assert "--forwarded-allow-ips=*" not in compose
    assert "TRUSTED_PROXY_CIDRS" in compose
    serve = _read("opsportal/serve.py")
    assert "forwarded_allow_ips" in serve
