"""The Redis channel layer with bounded sends (docs/security.md, "Redis down").

channels_redis reads with the connection's socket timeout, which must stay above its
5-second blocking receive (BZPOPMIN), so it cannot be short. Sends are what requests and
operator actions wait for (the outbox relay after a commit), so this layer bounds them:
``send``, ``group_send``, ``group_add`` and ``group_discard`` give up after
``send_timeout`` seconds with ``TimeoutError``. The relay logs that and leaves the event
to the outbox sweep, so nothing is lost; the live dashboard is only late.
"""

from __future__ import annotations

import asyncio

from channels_redis.core import RedisChannelLayer


class BoundedRedisChannelLayer(RedisChannelLayer):
    def __init__(self, *args, send_timeout: float = 0.5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.send_timeout = send_timeout

    async def _bounded(self, coro):
        return await asyncio.wait_for(coro, self.send_timeout)

    async def send(self, channel, message):
        return await self._bounded(super().send(channel, message))

    async def group_send(self, group, message):
        return await self._bounded(super().group_send(group, message))

    async def group_add(self, group, channel):
        return await self._bounded(super().group_add(group, channel))

    async def group_discard(self, group, channel):
        return await self._bounded(super().group_discard(group, channel))
