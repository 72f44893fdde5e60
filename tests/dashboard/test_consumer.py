"""/ws/ops/ through the real routing stack (origin check, session auth) and the Redis channel layer.

Events are emitted through real services; with ``transaction=True`` they
commit, so the outbox relay publishes them exactly as in production.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from audit.actors import Actor
from opsportal.accounts.services import auth_event_record, token_issue
from opsportal.catalog.services import service_create, service_update
from opsportal.events.models import OutboxEvent
from opsportal.routing import websocket_application

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM = Actor.for_system("test")


@pytest.fixture(autouse=True)
async def _close_sync_thread_connections():
    """sync_to_async work runs in asgiref's shared thread; its connection must not outlive the test DB."""
    yield
    await sync_to_async(connections.close_all)()


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def _open(user=None, origin: bytes = b"http://testserver") -> tuple[WebsocketCommunicator, bool]:
    headers = [(b"origin", origin)]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(_session_cookie)(user)))
    communicator = WebsocketCommunicator(websocket_application, "/ws/ops/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


async def _connect(user) -> tuple[WebsocketCommunicator, dict]:
    communicator, connected = await _open(user)
    assert connected
    hello = await communicator.receive_json_from()
    assert hello["type"] == "hello"
    return communicator, hello


async def _until(communicator, stop, timeout: float = 3) -> list[dict]:
    """Messages up to and including the first one for which ``stop(message)`` is true."""
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        messages.append(message)
        if stop(message):
            return messages


def _is_service_event(name):
    return lambda m: m["type"] == "event" and m["event"]["data"].get("name") == name


def _types(messages) -> list[str]:
    return [m["event"]["type"] for m in messages if m["type"] == "event"]


@sync_to_async
def _emit_catalog_token_and_login_events(user) -> None:
    token_issue(service_name="payments", scopes=["read"], actor=SYSTEM)  # catalog.service_created + token.issued
    auth_event_record(action="auth.login", actor=Actor(user=user), username=user.username)
    service_create(name="barrier", actor=SYSTEM, source="test")  # sent last: everything before it has arrived


async def test_anonymous_connection_is_refused():
    communicator, connected = await _open(user=None)
    assert not connected


async def test_a_foreign_origin_is_refused_even_with_a_valid_session(operator):
    communicator, connected = await _open(operator, origin=b"https://evil.example")
    assert not connected
    communicator, connected = await _open(operator)
    assert connected
    await communicator.disconnect()


async def test_users_without_a_role_or_inactive_are_refused(make_user, django_user_model):
    no_role = await sync_to_async(make_user)("nobody")
    inactive = await sync_to_async(make_user)("walter", "operator")
    inactive.is_active = False
    await sync_to_async(inactive.save)()
    for user in (no_role, inactive):
        communicator, connected = await _open(user)
        assert not connected


async def test_roles_not_staff_status_decide_support_without_staff_connects(make_user):
    """A support person with no admin access still follows its domains live (#8 item 8)."""
    support = await sync_to_async(make_user)("sasha", "support")
    support.is_staff = False
    await sync_to_async(support.save)()
    communicator, hello = await _connect(support)
    assert set(hello["domains"]) == {"catalog", "incident", "alert", "runbook", "health", "breaker", "slo"}
    await communicator.disconnect()


async def test_support_receives_catalog_events_but_never_audit_domain_events(support_user):
    communicator, hello = await _connect(support_user)
    assert "audit" not in hello["domains"] and "catalog" in hello["domains"]

    await _emit_catalog_token_and_login_events(support_user)
    messages = await _until(communicator, _is_service_event("barrier"))

    assert _types(messages) == ["catalog.service_created", "catalog.service_created"]
    assert [m["event"]["data"]["name"] for m in messages] == ["payments", "barrier"]
    assert {m["domain"] for m in messages} == {"catalog"}
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_auditor_receives_token_and_auth_events(auditor):
    communicator, hello = await _connect(auditor)
    assert "audit" in hello["domains"]

    await _emit_catalog_token_and_login_events(auditor)
    messages = await _until(communicator, _is_service_event("barrier"))

    assert _types(messages) == ["catalog.service_created", "token.issued", "auth.login", "catalog.service_created"]
    assert [m["domain"] for m in messages] == ["catalog", "audit", "audit", "catalog"]
    event = messages[1]["event"]
    assert set(event) == {"id", "type", "at", "aggregate", "data"}
    assert event["aggregate"]["type"] == "accounts.integrationtoken"
    await communicator.disconnect()


@sync_to_async
def _history_with_a_gap():
    """An anchor the client saw, then catalog and audit events it missed."""
    service = service_create(name="payments", actor=SYSTEM, source="test")
    anchor = OutboxEvent.objects.get(type="catalog.service_created")
    service_update(service_id=service.pk, team="pay", actor=SYSTEM, source="test")
    token_issue(service_name="payments", scopes=["read"], actor=SYSTEM)  # service exists: only token.issued
    service_create(name="ledger", actor=SYSTEM, source="test")
    return str(anchor.uuid)


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("support", ["catalog.service_updated", "catalog.service_created"]),
        # the auditor also sees the token and its own login (made while connecting)
        ("auditor", ["catalog.service_updated", "token.issued", "catalog.service_created", "auth.login"]),
    ],
)
async def test_catch_up_returns_only_missed_events_the_user_may_see(support_user, auditor, who, expected):
    user = {"support": support_user, "auditor": auditor}[who]
    anchor = await _history_with_a_gap()
    communicator, _ = await _connect(user)

    await communicator.send_json_to({"type": "catch_up", "after": anchor})
    messages = await _until(communicator, lambda m: m["type"] == "caught_up")

    assert _types(messages) == expected
    assert messages[-1] == {"type": "caught_up", "count": len(expected), "complete": True}
    await communicator.disconnect()


async def test_catch_up_without_or_with_an_unknown_anchor(support_user):
    await sync_to_async(service_create)(name="payments", actor=SYSTEM, source="test")
    communicator, _ = await _connect(support_user)

    await communicator.send_json_to({"type": "catch_up", "after": None})
    messages = await _until(communicator, lambda m: m["type"] == "caught_up")
    assert _types(messages) == ["catalog.service_created"]
    assert messages[-1]["complete"] is False  # no anchor: the client re-reads its panels

    for after in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", 42):
        await communicator.send_json_to({"type": "catch_up", "after": after})
        assert await communicator.receive_json_from() == {"type": "caught_up", "count": 0, "complete": False}
    await communicator.disconnect()


async def test_bad_frames_get_an_error_and_the_socket_stays_usable(support_user):
    communicator, _ = await _connect(support_user)
    await communicator.send_to(text_data="{not json")
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.send_to(bytes_data=b"\x00\x01")
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.send_json_to(["catch_up"])
    assert (await communicator.receive_json_from())["type"] == "error"
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"type": "pong"}
    await communicator.disconnect()


# --- a socket never outlives the rights it was opened with (#8 item 8) -----------------------------
CLOSE_WAIT = 10  # generous: a loaded 2-core machine; closes arrive in well under a second


async def _connect_with_client(user) -> tuple[WebsocketCommunicator, Client]:
    """A socket opened with the session of a test client, which can log out later."""
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()
    communicator = WebsocketCommunicator(
        websocket_application, "/ws/ops/", headers=[(b"origin", b"http://testserver"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    return communicator, client


async def _closed_with(communicator) -> int:
    """Wait (condition, not sleep) until the server closes the socket; its close code."""
    while True:
        message = await communicator.receive_output(timeout=CLOSE_WAIT)
        if message["type"] == "websocket.close":
            return message.get("code")


async def test_deactivation_closes_the_socket_within_seconds(operator):
    from opsportal.accounts.services import user_deactivate

    communicator, _ = await _connect_with_client(operator)
    await sync_to_async(user_deactivate)(user_id=operator.pk, actor=SYSTEM, source="test")
    assert await _closed_with(communicator) == 4403
    communicator, connected = await _open(operator)  # and it cannot come back
    assert not connected


async def test_role_removal_closes_the_socket(operator):
    from opsportal.accounts.services import user_roles_set

    communicator, _ = await _connect_with_client(operator)
    await sync_to_async(user_roles_set)(user_id=operator.pk, roles=[], actor=SYSTEM, source="test")
    assert await _closed_with(communicator) == 4403


async def test_logout_closes_that_sessions_socket_only(operator):
    first, first_client = await _connect_with_client(operator)
    second, _ = await _connect_with_client(operator)  # another browser
    await sync_to_async(first_client.logout)()
    assert await _closed_with(first) == 4401
    await second.send_json_to({"type": "ping"})
    assert await second.receive_json_from() == {"type": "pong"}
    await second.disconnect()


async def test_deleting_the_session_closes_its_socket(operator):
    from django.contrib.sessions.models import Session

    communicator, client = await _connect_with_client(operator)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    await sync_to_async(lambda: Session.objects.filter(session_key=key).delete())()
    assert await _closed_with(communicator) == 4401


async def test_the_periodic_recheck_catches_changes_made_behind_the_services_back(operator, settings):
    settings.OPS_SOCKET_RECHECK_SECONDS = 0.2
    communicator, _ = await _connect_with_client(operator)

    def drop_roles_silently():  # a raw delete sends no m2m signal: only the re-check can notice
        operator.groups.through.objects.filter(user_id=operator.pk).delete()

    await sync_to_async(drop_roles_silently)()
    assert await _closed_with(communicator) == 4403


async def test_the_recheck_keeps_a_socket_whose_rights_did_not_change(support_user, settings):
    settings.OPS_SOCKET_RECHECK_SECONDS = 0.05
    communicator, _ = await _connect_with_client(support_user)
    for _ in range(3):  # several re-checks pass meanwhile; the socket keeps answering
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=CLOSE_WAIT) == {"type": "pong"}
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_socket_is_closed_at_its_maximum_lifetime(support_user, settings):
    settings.OPS_SOCKET_MAX_AGE_SECONDS = 0.5
    communicator, _ = await _connect_with_client(support_user)
    assert await _closed_with(communicator) == 4408
