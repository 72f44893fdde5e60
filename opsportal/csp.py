"""Content-Security-Policy on every HTML page (docs/security.md).

Scripts, styles, fonts and images come from the portal itself (``'self'``: its static files,
the vendored htmx, drf-spectacular-sidecar's Swagger UI); no inline script, no inline event
handler, no ``eval``. The live dashboard's websocket is same-origin (``connect-src 'self'``).
``frame-ancestors 'none'`` repeats X-Frame-Options for browsers that prefer CSP.
A response that already carries a policy keeps it.
"""

from __future__ import annotations

from django.conf import settings

HEADER = "Content-Security-Policy"


def build_policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = build_policy(settings.CONTENT_SECURITY_POLICY)

    def __call__(self, request):
        response = self.get_response(request)
        if HEADER not in response and response.get("Content-Type", "").startswith("text/html"):
            response[HEADER] = self.policy
        return response
