"""The /ws/ops/ socket: authorise, join the user's groups, relay, catch up.

Consumers never write. Server → client messages:

- ``{"type": "hello", "domains": [...]}`` once accepted;
- ``{"type": "event", "domain": D, "event": {id, type, at, aggregate, data}}``;
- ``{"type": "caught_up", "count": N, "complete": bool}`` after a catch-up;
- ``{"type": "pong"}``, ``{"type": "error", "detail": "..."}``.

Client → server: ``{"type": "catch_up", "after": "<event id>" | null}`` replays
the events after that one that the user may see (oldest first; ``null`` sends
the most recent ones), ``{"type": "ping"}``.

Who may connect: an active user with at least one role that sees a domain (roles, not staff
status: a support user without admin access still gets its domains). A socket never outlives
the rights it was opened with (#8 item 8). It joins its user's and its session's groups
(``accounts.sockets``), and closes when

- the accounts services revoke it after commit (deactivation, role or superuser change,
  password change), or the user logs out, or its session is deleted — close code 4401
  (session over) or 4403 (rights changed);
- the periodic re-check (``OPS_SOCKET_RECHECK_SECONDS``) finds the user inactive, the session
  gone or signed out by a password change, or the visible domains changed (4401/4403);
- it reaches ``OPS_SOCKET_MAX_AGE_SECONDS`` (4408).

The browser reconnects, which runs the checks of ``connect`` again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from opsportal.accounts.sockets import session_group, user_group
from opsportal.dashboard.selectors import feed_item
from opsportal.events.groups import domains_for_user
from opsportal.events.selectors import events_after, events_recent

CATCH_UP_LIMIT = 500
CATCH_UP_WITHOUT_ANCHOR = 50
CLOSE_SESSION_ENDED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_MAX_AGE = 4408
log = logging.getLogger(__name__)


class OpsConsumer(AsyncJsonWebsocketConsumer):
    domains: frozenset[str] = frozenset()
    joined: tuple[str, ...] = ()
    user_id: int | None = None
    session_key: str | None = None
    _watchdog: asyncio.Task | None = None

    async def connect(self):
        user = self.scope.get("user")
        # Closing before accept() makes the server refuse the handshake (HTTP 403).
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        if not user.is_active:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Roles decide (as on /ops/ panels): a user whose roles see no domain is refused.
        self.domains = frozenset(await database_sync_to_async(domains_for_user)(user))
        if not self.domains:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        session = self.scope.get("session")
        self.session_key = getattr(session, "session_key", None) or None
        groups = {f"ops.{d}" for d in self.domains} | {user_group(user.pk)}
        if self.session_key:
            groups.add(session_group(self.session_key))
        self.joined = tuple(sorted(groups))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "domains": sorted(self.domains)})
        self._watchdog = asyncio.create_task(self._watch(time.monotonic()))

    async def disconnect(self, code):
        if self._watchdog is not None:
            self._watchdog.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- a socket never outlives its rights ----------------------------------------------------
    async def ops_revoke(self, message):
        """Sent by accounts.sockets after a logout, a deactivation, a role or password change."""
        code = message.get("code")
        await self._end(code if code in (CLOSE_SESSION_ENDED, CLOSE_FORBIDDEN) else CLOSE_FORBIDDEN,
                        str(message.get("reason", "access changed")))

    async def _watch(self, opened: float) -> None:
        recheck = max(float(settings.OPS_SOCKET_RECHECK_SECONDS), 0.05)
        max_age = float(settings.OPS_SOCKET_MAX_AGE_SECONDS)
        try:
            while True:
                left = max_age - (time.monotonic() - opened)
                if left <= 0:
                    await self._end(CLOSE_MAX_AGE, "maximum socket lifetime reached")
                    return
                await asyncio.sleep(min(recheck, left))
                if time.monotonic() - opened >= max_age:
                    continue
                code = await self._revalidate()
                if code is not None:
                    await self._end(code, "access re-check failed")
                    return
        except asyncio.CancelledError:
            pass

    async def _end(self, code: int, why: str) -> None:
        log.info("ops socket closed: %s (user %s, code %s)", why, self.user_id, code)
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        await self.close(code=code)

    @database_sync_to_async
    def _revalidate(self) -> int | None:
        """None while the socket may stay open, else the close code."""
        user = get_user_model().objects.filter(pk=self.user_id).first()
        if user is None or not user.is_active:
            return CLOSE_FORBIDDEN
        if self.session_key:
            data = import_module(settings.SESSION_ENGINE).SessionStore(session_key=self.session_key).load()
            if str(data.get(SESSION_KEY)) != str(user.pk) or BACKEND_SESSION_KEY not in data:
                return CLOSE_SESSION_ENDED  # logged out, or the session was deleted or expired
            if not constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
                return CLOSE_SESSION_ENDED  # the password changed since this session signed in
        if frozenset(domains_for_user(user)) != self.domains:
            return CLOSE_FORBIDDEN
        return None

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # The base class raises on binary frames and bad JSON, which kills the socket.
        if text_data is None:
            await self.send_json({"type": "error", "detail": "send JSON text frames"})
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            await self.send_json({"type": "error", "detail": "malformed JSON"})
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "catch_up":
            events, complete = await self._catch_up(content.get("after"))
            for item in events:
                await self.send_json({"type": "event", **item})
            await self.send_json({"type": "caught_up", "count": len(events), "complete": complete})
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "detail": "unknown message type; expected catch_up or ping"})

    async def ops_event(self, message):
        """Relay an outbox event published to one of our groups (``type: ops.event``)."""
        item = feed_item(message["event"])
        if item["domain"] in self.domains:  # defence in depth: only our groups reach us
            await self.send_json({"type": "event", **item})

    @database_sync_to_async
    def _catch_up(self, after) -> tuple[list[dict], bool]:
        if after is None:
            recent = events_recent(domains=self.domains, limit=CATCH_UP_WITHOUT_ANCHOR)
            return [feed_item(e.envelope()) for e in reversed(recent)], False
        events, complete = events_after(after=after, domains=self.domains, limit=CATCH_UP_LIMIT)
        return [feed_item(e.envelope()) for e in events], complete
