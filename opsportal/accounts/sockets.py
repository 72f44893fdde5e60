"""Closing a person's live-dashboard sockets when its access changes (#8 item 8).

Every ``/ws/ops/`` socket joins two channel-layer groups besides its domain groups: one per
user (``ops.user.<id>``) and one per session (``ops.session.<digest>``; the digest, not the
session key, so Redis never holds a usable key). Services send ``ops.revoke`` to them after
their transaction commits; the consumer closes the socket (code 4403) and the browser
reconnects, which re-runs the role check — a socket whose user lost every role stays closed.
"""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)
REVOKE_MESSAGE = "ops.revoke"  # handled by OpsConsumer.ops_revoke


def user_group(user_id: int) -> str:
    return f"ops.user.{int(user_id)}"


def session_group(session_key: str) -> str:
    return f"ops.session.{hashlib.sha256(session_key.encode()).hexdigest()[:40]}"


CODE_SESSION_ENDED = 4401  # the consumer's close codes (opsportal/dashboard/consumers.py)
CODE_FORBIDDEN = 4403


def _send(group: str, reason: str, code: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": REVOKE_MESSAGE, "reason": reason, "code": code})
    except Exception:  # the periodic re-check closes the socket anyway
        log.warning("could not reach the channel layer to close %s's sockets", group, exc_info=True)


def close_user_sockets_on_commit(user_id: int, reason: str) -> None:
    """After the current transaction commits (now, outside one): close the user's sockets."""
    group = user_group(user_id)
    transaction.on_commit(lambda: _send(group, reason, CODE_FORBIDDEN), robust=True)


def close_session_sockets_on_commit(session_key: str, reason: str) -> None:
    if session_key:
        group = session_group(session_key)
        transaction.on_commit(lambda: _send(group, reason, CODE_SESSION_ENDED), robust=True)
