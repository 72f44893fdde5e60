"""The catalog's panel on /ops/: the example of registering a dashboard panel."""

from opsportal.catalog.models import Service
from opsportal.catalog.selectors import service_recently_changed
from opsportal.dashboard.panels import Panel


def _context(request) -> dict:
    return {"services": service_recently_changed(limit=8), "total": Service.objects.count()}


RECENT_CHANGES = Panel(
    key="catalog-recent",
    title="Service catalog: recent changes",
    template="catalog/panels/recent_changes.html",
    domain="catalog",  # refreshed by catalog.* events; shown to roles that see the catalog domain
    context=_context,
    order=50,
)
