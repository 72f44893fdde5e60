"""In-memory channel layer that is safe to send to from other threads.

The embedded runner has one process but several event loops: uvicorn's (where
consumers wait) and the short-lived loops that ``async_to_sync`` makes in the
Celery worker and beat threads. Channels' InMemoryChannelLayer keeps asyncio
queues bound to the consumers' loop, so a send from another loop would not
wake them. This layer hops such sends onto the consumers' loop.
"""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer


class ThreadSafeInMemoryChannelLayer(InMemoryChannelLayer):
    _home_loop: asyncio.AbstractEventLoop | None = None

    async def receive(self, channel):
        self._home_loop = asyncio.get_running_loop()
        return await super().receive(channel)

    async def send(self, channel, message):
        home = self._home_loop
        if home is not None and home.is_running() and home is not asyncio.get_running_loop():
            future = asyncio.run_coroutine_threadsafe(InMemoryChannelLayer.send(self, channel, message), home)
            await asyncio.wrap_future(future)
            return
        await super().send(channel, message)
