"""Test-only URLconf: the real routes plus views that raise, for the 500 handlers."""

from django.urls import path
from rest_framework.decorators import api_view, permission_classes

from opsportal.api import errors
from opsportal.api.permissions import PublicPermission
from opsportal.urls import urlpatterns as real_urlpatterns


@api_view(["GET"])
@permission_classes([PublicPermission])
def drf_boom(request):
    raise RuntimeError("bug in a DRF view")


def django_boom(request):
    raise RuntimeError("bug in a plain view")


urlpatterns = [
    path("api/v1/test-boom/drf/", drf_boom),
    path("api/v1/test-boom/django/", django_boom),
    path("ops-test-boom/", django_boom),
    *real_urlpatterns,
]

handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500
