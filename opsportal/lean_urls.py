"""The URLconf of the lean chain (opsportal.handlers): only what is served under its prefixes.

Resolving against the whole portal walks ~11 nested resolvers per request;
this one holds only the ingest route. Anything else under the prefix is a
problem+json 404 from the same handlers the portal uses.
"""

from django.urls import include, path

from opsportal.api import errors
from reliability.webhooks.urls import ingest_patterns

urlpatterns = [
    path("api/v1/webhooks/", include(ingest_patterns)),
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
