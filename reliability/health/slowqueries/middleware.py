"""Binds the request to the slow-query monitor and writes what it buffered when the request ends.

Sync and async capable: under ASGI a sync-only middleware makes Django run the chain below it in
the one thread-sensitive thread of the process, so every request of a worker queues for that
thread (measured: uvicorn ingestion fell to 0.4x gunicorn's with these two middlewares sync-only).
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async

from reliability.health.slowqueries import monitor


class SlowQueryMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self._acall(request)
        token = monitor.bind(monitor.Scope(request=request, path=request.path[:300]))
        try:
            return self.get_response(request)
        finally:
            monitor.reset(token)
            if monitor.pending():
                monitor.flush()

    async def _acall(self, request):
        token = monitor.bind(monitor.Scope(request=request, path=request.path[:300]))
        try:
            return await self.get_response(request)
        finally:
            monitor.reset(token)
            if monitor.pending():  # rare: a slow statement was buffered; write it off the event loop
                await sync_to_async(monitor.flush, thread_sensitive=False)()
