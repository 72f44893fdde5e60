"""GET /health/degradation (DESIGN §6: staff or `read` token). Routed from reliability/health/urls.py."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.health.degradation.selectors import degradation_state
from reliability.health.degradation.state import current_snapshot


class DegradationHealthView(APIView):
    token_scopes = {"read": "read"}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Degradation level, why, and the override")
    def get(self, request):
        state = degradation_state()
        snapshot = current_snapshot()
        state["process_view"] = {"level": snapshot.level().name, "snapshot_at": snapshot.at or None}
        return Response(state)
