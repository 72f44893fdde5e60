"""GET /health/dlq (DESIGN §6: staff or `read` token): DLQ depth against its alarm threshold."""

from __future__ import annotations

from django.db.models import Count, Min
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.webhooks.selectors.dlq import alert_threshold, dlq_open


class DlqHealthView(APIView):
    token_scopes = {"read": "read"}

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Open dead-letter items against the alarm threshold")
    def get(self, request):
        open_items = dlq_open()
        summary = open_items.aggregate(depth=Count("id"), oldest=Min("created_at"))
        by_destination = (
            open_items.values("destination__name").annotate(n=Count("id")).order_by("-n", "destination__name")[:20]
        )
        threshold = alert_threshold()
        return Response({
            "status": "degraded" if summary["depth"] > threshold else "ok",
            "depth": summary["depth"],
            "threshold": threshold,
            "oldest_open_at": summary["oldest"],
            "by_destination": {row["destination__name"] or "(deleted)": row["n"] for row in by_destination},
        })
