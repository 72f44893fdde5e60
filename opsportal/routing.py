"""Websocket routing: every socket lives under /ws/."""

from __future__ import annotations

import structlog
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from opsportal.dashboard.consumers import OpsConsumer

log = structlog.stdlib.get_logger("opsportal.ws")

websocket_urlpatterns = [path("ws/ops/", OpsConsumer.as_asgi())]

# Close codes the portal's consumers use before accept(), by what they mean.
REFUSAL_REASONS = {4401: "not signed in", 4403: "not allowed", 4404: "no such socket"}


class _Routes(URLRouter):
    """URLRouter that refuses an unknown path like any other handshake (closes it) instead of
    raising ValueError, which the server logs as a traceback and answers with a 500."""

    async def __call__(self, scope, receive, send):
        try:
            return await super().__call__(scope, receive, send)
        except ValueError as exc:
            if not str(exc).startswith("No route found"):
                raise
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 4404})


class HandshakeLog:
    """Outermost websocket app: every handshake refused (origin, sign-in, role, path) is one
    INFO line ``ws_handshake_refused`` with path, close code, reason and client — no traceback."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        accepted = False

        async def watch(message):
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close" and not accepted:
                code = message.get("code")
                client = scope.get("client") or (None, None)
                log.info("ws_handshake_refused", path=scope.get("path", "")[:200], code=code,
                         reason=REFUSAL_REASONS.get(code, "origin not allowed" if code in (None, 1000) else "refused"),
                         client=client[0])
            await send(message)

        return await self.app(scope, receive, watch)


# Origin must match ALLOWED_HOSTS; the session cookie identifies the user.
websocket_application = HandshakeLog(AllowedHostsOriginValidator(AuthMiddlewareStack(_Routes(websocket_urlpatterns))))
