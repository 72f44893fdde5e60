"""Refused websocket handshakes are one log line, never a traceback (issue #8 item 10b)."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from opsportal.routing import websocket_application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_sync_thread_connections():
    yield
    await sync_to_async(connections.close_all)()


async def _refused(path: str, origin: bytes, caplog) -> list[logging.LogRecord]:
    caplog.set_level("INFO")
    caplog.clear()
    communicator = WebsocketCommunicator(websocket_application, path, headers=[(b"origin", origin)])
    connected, code = await communicator.connect()
    assert connected is False
    await communicator.disconnect()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    return [r for r in caplog.records if r.name == "opsportal.ws"]


@pytest.mark.parametrize(
    ("path", "origin", "reason"),
    [
        ("/ws/nope/", b"http://testserver", "no such socket"),  # today: ValueError traceback, HTTP 500
        ("/ws/ops/", b"http://evil.example", "origin not allowed"),
        ("/ws/ops/", b"http://testserver", "not signed in"),
    ],
)
async def test_a_refused_handshake_is_one_line(path, origin, reason, caplog):
    lines = await _refused(path, origin, caplog)
    assert len(lines) == 1
    text = lines[0].getMessage()
    assert "ws_handshake_refused" in text and reason in text and path in text
