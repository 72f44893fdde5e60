"""The portal's URLs plus one view whose statement sleeps (slow-query tests only)."""

from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from rest_framework.decorators import api_view
from rest_framework.response import Response


def sleepy(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s), %s", [0.08, "secret-parameter"])
    return JsonResponse({"slept": True})


@api_view(["GET"])
def sleepy_api(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [0.08])
    return Response({"slept": True})


urlpatterns = [path("_test/sleepy/", sleepy), path("_test/sleepy-api/", sleepy_api), path("", include("opsportal.urls"))]
