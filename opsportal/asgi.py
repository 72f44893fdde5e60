"""ASGI entry point: `uvicorn opsportal.asgi:application` (websockets at /ws/, HTTP too)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")

from opsportal.observability import setup_opentelemetry  # noqa: E402

# Before the handler loads MIDDLEWARE: the instrumentor adds its middleware there.
setup_opentelemetry()

from opsportal.handlers import asgi_http_application  # noqa: E402

django_asgi_app = asgi_http_application()  # sets up Django before consumers import models

from channels.routing import ProtocolTypeRouter  # noqa: E402

from opsportal.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})
