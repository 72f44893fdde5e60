"""Input guards for /api/: reject what no view could handle before any view runs.

DRF's JSON parser reads the stream without Django's DATA_UPLOAD_MAX_MEMORY_SIZE
check, and PostgreSQL refuses NUL bytes in text (a DataError, i.e. a 500, once
a filter reaches the query). Both are bad input: answer 413/400 problem+json.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings

from opsportal.api.errors import problem_response

PREFIX = "/api/"


class ApiInputGuardMiddleware:
    # Both modes: under ASGI the lean chain stays on the event loop (opsportal.handlers).
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
        if request.path.startswith(PREFIX):
            rejection = self._reject(request)
            if rejection is not None:
                return rejection
        return self.get_response(request)

    async def _acall(self, request):
        if request.path.startswith(PREFIX):
            rejection = self._reject(request)
            if rejection is not None:
                return rejection
        return await self.get_response(request)

    @staticmethod
    def _reject(request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return problem_response(400, "Content-Length is not a number", code="malformed-request")
        if limit is not None and length > limit:
            return problem_response(413, f"the request body is larger than {limit} bytes", code="payload-too-large")
        if "\x00" in request.path:
            return problem_response(400, "the path contains a NUL character", code="malformed-request")
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return problem_response(400, f"query parameter {name!r} contains a NUL character", code="malformed-request")
        return None
