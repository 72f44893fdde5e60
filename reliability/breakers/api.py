"""/api/v1/breakers/: list breakers with live figures; reset, force open/close, disable (DESIGN §6)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from opsportal.api.errors import Conflict
from opsportal.api.pagination import IdCursorPagination
from reliability.breakers.models import CircuitBreaker
from reliability.breakers.selectors import breaker_get, breaker_list, breaker_live_stats
from reliability.breakers.services import MANUAL_SERVICES, BreakerActionRefused

BREAKER_SCOPES = {"read": "read", "write": "breakers:write"}


class BreakerSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="name", read_only=True)
    last_transition = serializers.SerializerMethodField()
    live = serializers.SerializerMethodField()

    class Meta:
        model = CircuitBreaker
        fields = ["name", "service", "state", "state_changed_at", *CircuitBreaker.CONFIG_FIELDS,
                  "last_transition", "live", "created_at", "updated_at"]

    def get_last_transition(self, obj) -> dict | None:
        if getattr(obj, "last_to", None) is None:
            return None
        return {"to": obj.last_to, "cause": obj.last_cause, "at": obj.last_at}

    def get_live(self, obj) -> dict:
        """Calls and failure rate in the current window (fleet-wide in shared mode)."""
        stats = self.context.get("live", {}).get(obj.name) or {}
        return {k: stats.get(k) for k in ("calls", "failures", "failure_rate", "store")}


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=False, trim_whitespace=True)


class ActionResultSerializer(serializers.Serializer):
    breaker = BreakerSerializer()
    transition_id = serializers.IntegerField()


class BreakerPagination(IdCursorPagination):
    ordering = "name"


class BreakerListView(generics.ListAPIView):
    """Every breaker with its state, config, last transition and live window figures."""

    serializer_class = BreakerSerializer
    pagination_class = BreakerPagination
    token_scopes = BREAKER_SCOPES

    def get_queryset(self):
        return breaker_list()

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        context = {**self.get_serializer_context(), "live": breaker_live_stats([b.name for b in page])}
        return self.get_paginated_response(BreakerSerializer(page, many=True, context=context).data)


class BreakerDetailView(APIView):
    token_scopes = BREAKER_SCOPES

    @extend_schema(responses=BreakerSerializer)
    def get(self, request, name: str):
        cb = breaker_get(name=name)
        if cb is None:
            raise Http404
        return Response(BreakerSerializer(cb, context={"live": breaker_live_stats([cb.name])}).data)


class BreakerActionView(APIView):
    """POST {"reason": "…"}: the same service the admin and /ops/ call (source "api")."""

    token_scopes = BREAKER_SCOPES
    action_name = ""

    @extend_schema(request=ReasonSerializer, responses=ActionResultSerializer)
    def post(self, request, name: str):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        service = MANUAL_SERVICES[self.action_name]
        try:
            transition = service(name=name, actor=Actor.from_request(request), reason=body.validated_data["reason"],
                                 source="api")
        except CircuitBreaker.DoesNotExist as exc:
            raise Http404 from exc
        except BreakerActionRefused as exc:
            raise Conflict(str(exc)) from exc
        cb = breaker_get(name=name)
        data = BreakerSerializer(cb, context={"live": breaker_live_stats([name])}).data
        return Response({"breaker": data, "transition_id": transition.pk})
