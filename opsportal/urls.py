from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from opsportal.api import errors
from opsportal.dashboard.login import PortalLoginView, PortalLogoutView

urlpatterns = [
    path("", RedirectView.as_view(url="/ops/", permanent=False), name="home"),  # the admin's "View site"
    path("health/", include("reliability.health.urls")),
    path("internal/", include("reliability.health.internal_urls")),
    path("metrics", ExportToDjangoView, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("login/", PortalLoginView.as_view(), name="portal-login"),
    path("logout/", PortalLogoutView.as_view(), name="portal-logout"),
    path("ops/breakers/", include("reliability.breakers.ops_urls")),
    path("ops/dlq/", include("reliability.webhooks.views.dlq")),
    path("ops/_sink/", include("reliability.webhooks.views.sink")),  # development only (404 elsewhere)
    path("ops/runbooks/", include("runbooks.ops_urls")),
    path("ops/incidents/", include("reliability.incidents.ops_urls")),
    path("ops/health/", include("reliability.health.ops_urls")),  # health (health-core)
    path("ops/reports/", include("reliability.reports.ops_urls")),
    path("ops/slos/", include("reliability.slos.ops_urls")),  # slos (#12)
    path("ops/chaos/", include("chaos.ops_urls")),  # chaos drills (issue 14)
    path("ops/", include("opsportal.dashboard.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Split view: its settings script is a separate request, not inline (Content-Security-Policy).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("opsportal.api.urls")),
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
