"""A Django WSGI handler with an empty middleware chain: the benchmarks' bare baseline."""

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler

BARE_PREFIX = "/bench/bare/"


class NoMiddlewareWSGIHandler(WSGIHandler):
    """URL resolving, the view and the response only."""

    def load_middleware(self, is_async=False):
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)
