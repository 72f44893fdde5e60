"""The ASGI lean handler's URLconf: the ingest route served by the async view (opsportal.handlers).

Same path, name and answers as opsportal.lean_urls; only the view differs
(``ingest_async`` runs the same code in one thread hop, reliability/webhooks/views/ingest.py).
"""

from django.urls import include, path

from opsportal.api import errors
from reliability.webhooks.views import ingest

urlpatterns = [
    path("api/v1/webhooks/", include([path("in/<str:slug>/", ingest.ingest_async, name="webhook-ingest")])),
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
