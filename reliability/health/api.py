"""GET /health/detailed and /internal/health/system (DESIGN §6: staff or a `read` token).

Authenticated like /health/circuit-breakers and /health/dlq: DRF's bearer-token and session
authentication, ``ScopedPermission`` with the `read` scope for tokens and any portal role for
people (superusers included).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.health.checks import readiness
from reliability.health.selectors import system_snapshot


class DetailedHealthView(APIView):
    token_scopes = {"read": "read"}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Readiness checks now, the latest probe results, "
                                                          "workers, slow jobs and the breaker store")
    def get(self, request):
        from reliability.breakers.runtime import default_registry

        results, cached = readiness()
        snapshot = system_snapshot()
        mode, detail = default_registry.store_status()
        ready = all(r.ok for r in results)
        status = "fail" if not ready else snapshot["status"] if snapshot["status"] != "unknown" else "ok"
        return Response({
            "status": status,
            "generated_at": timezone.now(),
            "ready": {"ok": ready, "cached": cached, "checks": {r.name: r.as_dict() for r in results}},
            "probes": snapshot["checks"],
            "workers": snapshot["workers"],
            "slow_jobs": snapshot["slow_jobs"],
            "breaker_store": {"mode": mode, "detail": detail},
        })


class SystemHealthView(APIView):
    token_scopes = {"read": "read"}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The latest persisted probe results for dashboards")
    def get(self, request):
        snapshot = system_snapshot()
        return Response({"status": snapshot["status"], "generated_at": timezone.now(), "checks": snapshot["checks"],
                         "workers": snapshot["workers"]})
