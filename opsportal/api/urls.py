"""/api/v1/: every app's API is routed here."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from audit.api import AuditEntryViewSet, audit_export_csv
from opsportal.catalog.api import ServiceViewSet
from reliability.incidents.api import IncidentViewSet
from reliability.slos.api import SLOViewSet
from runbooks.api import RunbookViewSet

router = SimpleRouter(trailing_slash=True)
router.register("services", ServiceViewSet, basename="service")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("incidents", IncidentViewSet, basename="incident")
router.register("runbooks", RunbookViewSet, basename="runbook")
router.register("slos", SLOViewSet, basename="slo")  # slos (#12)

urlpatterns = [
    path("audit/export.csv", audit_export_csv, name="audit-export"),
    path("breakers/", include("reliability.breakers.urls")),
    path("dlq/", include("reliability.webhooks.api.dlq")),
    path("degradation/", include("reliability.health.degradation.urls")),  # health-degrade
    path("webhooks/", include("reliability.webhooks.urls")),
    path("", include("reliability.incidents.urls")),
    path("", include("reliability.reports.urls")),
    path("", include("reliability.slos.urls")),  # slos (#12): POST slos/<slug>/events/
    path("chaos/", include("chaos.urls")),  # chaos drills (issue 14)
    path("", include(router.urls)),
]
