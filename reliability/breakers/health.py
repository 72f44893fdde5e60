"""GET /health/circuit-breakers (DESIGN §6: staff or `read` token): the store and every breaker's state.

Routed from reliability/health/urls.py.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.breakers.runtime import default_registry
from reliability.breakers.selectors import breaker_list, breaker_live_stats


class BreakersHealthView(APIView):
    token_scopes = {"read": "read"}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Breaker store mode and every breaker's state")
    def get(self, request):
        breakers = list(breaker_list())
        live = breaker_live_stats([b.name for b in breakers])
        mode, detail = default_registry.store_status()
        rows = [
            {
                "name": b.name,
                "state": b.state,
                "state_changed_at": b.state_changed_at,
                "calls": live.get(b.name, {}).get("calls"),
                "failure_rate": live.get(b.name, {}).get("failure_rate"),
                "last_transition": {"to": b.last_to, "cause": b.last_cause, "at": b.last_at} if b.last_at else None,
            }
            for b in breakers
        ]
        refusing = [r["name"] for r in rows if r["state"] in ("open", "half_open", "forced_open")]
        return Response({
            "status": "degraded" if refusing or mode == "degraded" else "ok",
            "store": {"mode": mode, "detail": detail},
            "refusing_calls": refusing,
            "breakers": rows,
        })
