"""SSRF (issue #8 item 2): the outbound seam refuses non-public addresses at connect time,
on the resolved address, so DNS rebinding cannot get round it. No traffic leaves 127.0.0.1:
"public" names resolve (through the injected resolver) to an address the egress guard refuses
before any connect."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
import subprocess
import sys

import httpx
import pytest
from django.conf import settings as django_settings
from prometheus_client import REGISTRY

from reliability import http, netpolicy
from reliability.http import OutboundConnectError, OutboundError, OutboundRefused
from reliability.netpolicy import AddressRefused, UnresolvableHost, validate_outbound_url
from tests.security.conftest import Receiver

PUBLIC = "93.184.215.14"  # stands for "somewhere on the internet"; the egress guard refuses it

ADDRESS_CLASSES = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "reserved"),
    ("::ffff:127.0.0.1", "loopback, embedded in IPv6"),
    ("::ffff:169.254.169.254", "link-local, embedded in IPv6"),
    ("::ffff:10.1.1.1", "private, embedded in IPv6"),
    ("::127.0.0.1", "loopback, embedded in IPv6"),  # IPv4-compatible
    ("64:ff9b::a9fe:a9fe", "link-local, embedded in IPv6"),  # NAT64 of 169.254.169.254
    ("2002:7f00:1::1", "loopback, embedded in IPv6"),  # 6to4 of 127.0.0.1
]


def _url_host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def _refused_count(target: str) -> float:
    return REGISTRY.get_sample_value("outbound_requests_total", {"target": target, "outcome": "refused"}) or 0.0


# --- each class, at the seam ---------------------------------------------------------------------


@pytest.mark.parametrize(("addr", "why"), ADDRESS_CLASSES)
def test_each_address_class_is_refused_when_a_name_resolves_to_it(strict_policy, resolver, egress_guard,
                                                                    addr, why):
    resolver.answers["victim.example"] = [[addr]]
    with pytest.raises(OutboundRefused) as caught:
        http.request("GET", "http://victim.example:8080/latest/meta-data/", target="sec-test", policy="default")
    message = str(caught.value)
    assert "refused by the outbound address policy" in message
    assert f"{why} address" in message
    assert "meta-data" not in message  # the path (it can carry secrets) is never echoed
    assert egress_guard == []  # refused before any connect
    assert caught.value.attempt == 1  # not retried, although the policy retries


@pytest.mark.parametrize(("addr", "why"), ADDRESS_CLASSES)
def test_each_address_class_is_refused_as_a_literal(strict_policy, egress_guard, addr, why):
    with pytest.raises(OutboundRefused, match="outbound address policy"):
        http.request("POST", f"http://{_url_host(addr)}:6379/", target="sec-test", content=b"x")
    assert egress_guard == []
    with pytest.raises(AddressRefused, match=re.escape(why.split(",")[0])):
        validate_outbound_url(f"https://{_url_host(addr)}/hook")


def test_loopback_receiver_is_not_touched_and_its_body_never_read(strict_policy, receiver):
    before = _refused_count("sec-loopback")
    with pytest.raises(OutboundRefused) as caught:
        http.request("POST", f"http://127.0.0.1:{receiver.port}/", target="sec-loopback", policy="default",
                     json={"a": 1})
    assert receiver.hits == 0
    assert "secret-body" not in str(caught.value)
    assert isinstance(caught.value, OutboundError) and caught.value.retriable is False
    assert _refused_count("sec-loopback") == before + 1  # one attempt, no retry storm


def test_localhost_by_name_is_refused(strict_policy, receiver):
    with pytest.raises(OutboundRefused, match="loopback"):
        http.request("GET", f"http://localhost:{receiver.port}/", target="sec-test")
    assert receiver.hits == 0


def test_a_refusal_does_not_count_against_the_breaker(strict_policy):
    from reliability.breakers import breaker

    for _ in range(10):
        with pytest.raises(OutboundRefused):
            http.request("GET", "http://10.0.0.1/", target="sec-breaker-untouched")
    assert breaker("sec-breaker-untouched").state == "closed"


def test_public_address_is_connected_to_by_its_checked_address(strict_policy, resolver, egress_guard):
    resolver.answers["api.example"] = [[PUBLIC]]
    with pytest.raises(OutboundConnectError):  # the guard refuses the connect itself
        http.request("GET", "https://api.example/v1", target="sec-test")
    assert egress_guard == [(PUBLIC, 443)]  # the checked IP, not the name (no second lookup)


def test_every_resolved_address_is_checked(strict_policy, resolver, egress_guard):
    resolver.answers["mixed.example"] = [[PUBLIC, "127.0.0.1"]]
    with pytest.raises(OutboundRefused, match="loopback"):
        http.request("GET", "http://mixed.example/", target="sec-test")
    assert egress_guard == []


# --- DNS rebinding -------------------------------------------------------------------------------


def test_dns_rebinding_public_at_validation_loopback_at_connect(strict_policy, resolver, receiver, egress_guard):
    url = f"http://rebind.example:{receiver.port}/hook"
    resolver.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    validate_outbound_url(url)  # create time: the name looks public
    with pytest.raises(OutboundRefused, match="loopback"):
        http.request("POST", url, target="sec-rebind", content=b"{}")
    assert resolver.calls == ["rebind.example", "rebind.example"]  # resolved again at connect
    assert receiver.hits == 0 and egress_guard == []


@pytest.mark.asyncio
async def test_dns_rebinding_async(strict_policy, resolver, receiver, egress_guard):
    url = f"http://rebind-async.example:{receiver.port}/"
    resolver.answers["rebind-async.example"] = [[PUBLIC], ["127.0.0.1"]]
    validate_outbound_url(url)
    try:
        with pytest.raises(OutboundRefused, match="loopback"):
            await http.arequest("GET", url, target="sec-rebind")
    finally:
        await http.aclose_client()
    assert receiver.hits == 0 and egress_guard == []


# --- allow-list, user-info -----------------------------------------------------------------------


def test_allow_list_lets_an_internal_consumer_through(strict_policy, resolver, receiver):
    strict_policy.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = ["127.0.0.0/8"]
    resolver.answers["alertmanager.internal"] = [["127.0.0.1"]]
    response = http.request("GET", f"http://alertmanager.internal:{receiver.port}/api/v2/status",
                            target="sec-allow")
    assert response.status_code == 200
    assert receiver.requests[0]["host"] == f"alertmanager.internal:{receiver.port}"  # Host stays the name
    strict_policy.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = ["127.0.0.2/32"]  # a neighbour, not this one
    http.close_clients()
    with pytest.raises(OutboundRefused):
        http.request("GET", f"http://alertmanager.internal:{receiver.port}/", target="sec-allow")


@pytest.mark.asyncio
async def test_allow_list_async(strict_policy, resolver, receiver):
    strict_policy.OPSPORTAL_OUTBOUND_ALLOWED_CIDRS = ["127.0.0.1/32"]
    resolver.answers["receiver.internal"] = [["127.0.0.1"]]
    try:
        response = await http.arequest("GET", f"http://receiver.internal:{receiver.port}/", target="sec-allow")
    finally:
        await http.aclose_client()
    assert response.status_code == 200 and receiver.hits == 1


def test_allow_private_opens_loopback_but_not_link_local(strict_policy, receiver):
    strict_policy.OPSPORTAL_OUTBOUND_ALLOW_PRIVATE = True
    assert http.request("GET", f"http://127.0.0.1:{receiver.port}/", target="sec-dev").status_code == 200
    with pytest.raises(OutboundRefused, match="link-local"):
        http.request("GET", "http://169.254.169.254/latest/meta-data/", target="sec-dev")


def test_user_info_is_refused(settings, receiver):
    # Loopback is allow-listed in the test settings: only the user-info is wrong here.
    url = f"http://user:pw@127.0.0.1:{receiver.port}/"
    with pytest.raises(OutboundRefused, match="user-info"):
        http.request("GET", url, target="sec-userinfo")
    assert receiver.hits == 0
    with pytest.raises(AddressRefused, match="user-info"):
        validate_outbound_url(url)
    assert "pw" not in str(pytest.raises(AddressRefused, validate_outbound_url, url).value)


def test_https_keeps_sni_and_host_while_connecting_to_the_checked_address(settings, resolver, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.internal")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.internal")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    seen_sni: list[str | None] = []
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_ctx.sni_callback = lambda sock, server_name, ctx: seen_sni.append(server_name)
    tls_receiver = Receiver(ssl_context=server_ctx)
    try:
        resolver.answers["hooks.internal"] = [["127.0.0.1"]]
        client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
        with httpx.Client(transport=http.guarded_transport(verify=client_ctx)) as client:
            response = client.get(f"https://hooks.internal:{tls_receiver.port}/x")
        assert response.status_code == 200
        assert seen_sni == ["hooks.internal"]  # certificate checked against the name, not 127.0.0.1
        assert tls_receiver.requests[0]["host"] == f"hooks.internal:{tls_receiver.port}"
    finally:
        tls_receiver.close()


# --- the validator -------------------------------------------------------------------------------


def test_validator_accepts_a_public_name_and_refuses_others(strict_policy, resolver, egress_guard):
    resolver.answers["hooks.example.com"] = [[PUBLIC, "2606:4700:4700::1111"]]
    assert validate_outbound_url("https://hooks.example.com/in") is None
    for bad, match in [("ftp://hooks.example.com/", "http"), ("/relative", "http"),
                       ("https://nowhere.example/", "could not be resolved")]:
        with pytest.raises(AddressRefused, match=match):
            validate_outbound_url(bad)
    with pytest.raises(UnresolvableHost):
        validate_outbound_url("https://nowhere.example/")
    assert issubclass(AddressRefused, ValueError)
    assert egress_guard == []  # validation never connects


def test_category_covers_every_non_global_range():
    for addr, _why in ADDRESS_CLASSES:
        assert netpolicy.category(ipaddress.ip_address(addr)) is not None, addr
    for public in (PUBLIC, "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"):
        assert netpolicy.category(ipaddress.ip_address(public)) is None, public


# --- defaults per environment --------------------------------------------------------------------


def _policy_in(env: str) -> str:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPSPORTAL_OUTBOUND_", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS"))}
    environ.update(OPSPORTAL_ENV=env, DJANGO_SETTINGS_MODULE="opsportal.settings",
                   OPSPORTAL_VAR_DIR=str(django_settings.BASE_DIR / "var"))
    code = ("import django; django.setup()\n"
            "from reliability.netpolicy import validate_outbound_url, AddressRefused\n"
            "try:\n    validate_outbound_url('http://127.0.0.1:8025/hook'); print('allowed')\n"
            "except AddressRefused as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=django_settings.BASE_DIR, env=environ,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.strip()


def test_development_allows_its_local_receiver_by_default():
    assert _policy_in("development") == "allowed"


def test_staging_refuses_loopback_by_default():
    result = _policy_in("staging")
    assert result.startswith("refused:") and "OPSPORTAL_OUTBOUND_ALLOW_PRIVATE is off" in result
