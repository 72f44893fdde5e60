from django.db.models import QuerySet

from opsportal.catalog.models import Service


def service_list() -> QuerySet[Service]:
    return Service.objects.all()


def service_recently_changed(*, limit: int = 8) -> list[Service]:
    return list(Service.objects.order_by("-updated_at", "-id")[:limit])
