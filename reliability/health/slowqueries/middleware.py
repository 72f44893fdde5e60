"""Binds the request to the slow-query monitor and writes what it buffered when the request ends."""

from __future__ import annotations

from reliability.health.slowqueries import monitor


class SlowQueryMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = monitor.bind(monitor.Scope(request=request, path=request.path[:300]))
        try:
            return self.get_response(request)
        finally:
            monitor.reset(token)
            if monitor.pending():
                monitor.flush()
