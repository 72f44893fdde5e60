"""The /ws/ops/ socket: authorise, join the user's groups, relay, catch up.

Consumers never write. Server → client messages:

- ``{"type": "hello", "domains": [...]}`` once accepted;
- ``{"type": "event", "domain": D, "event": {id, type, at, aggregate, data}}``;
- ``{"type": "caught_up", "count": N, "complete": bool}`` after a catch-up;
- ``{"type": "pong"}``, ``{"type": "error", "detail": "..."}``.

Client → server: ``{"type": "catch_up", "after": "<event id>" | null}`` replays
the events after that one that the user may see (oldest first; ``null`` sends
the most recent ones), ``{"type": "ping"}``.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from opsportal.dashboard.selectors import feed_item
from opsportal.events.groups import domains_for_user
from opsportal.events.selectors import events_after, events_recent

CATCH_UP_LIMIT = 500
CATCH_UP_WITHOUT_ANCHOR = 50


class OpsConsumer(AsyncJsonWebsocketConsumer):
    domains: frozenset[str] = frozenset()
    joined: tuple[str, ...] = ()

    async def connect(self):
        user = self.scope.get("user")
        # Closing before accept() makes the server refuse the handshake (HTTP 403).
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not (user.is_active and user.is_staff):  # same rule as the /ops/ page
            await self.close(code=4403)
            return
        self.domains = frozenset(await database_sync_to_async(domains_for_user)(user))
        if not self.domains:
            await self.close(code=4403)
            return
        self.joined = tuple(sorted(f"ops.{d}" for d in self.domains))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "domains": sorted(self.domains)})

    async def disconnect(self, code):
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

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
