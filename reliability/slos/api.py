"""/api/v1/slos/: CRUD by slug, GET <slug>/status/, POST <slug>/events/ (token ``slo:write``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR
from opsportal.api.pagination import IdCursorPagination
from opsportal.catalog.models import Service
from reliability.slos import push, selectors, services, validation
from reliability.slos.models import SLO, BurnTier
from reliability.slos.services.config import TIER_FIELDS

SLO_SCOPES = {"read": "read", "write": "admin"}  # people: read any role, write operator (DESIGN §6)


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = BurnTier
        fields = ["name", "severity", "long_window_minutes", "short_window_minutes", "factor", "for_seconds", "state",
                  "burn_long", "burn_short", "firing_since"]
        read_only_fields = ["state", "burn_long", "burn_short", "firing_since"]
        extra_kwargs = {"name": {"validators": []}}


def status_payload(slo: SLO) -> dict:
    st = getattr(slo, "status", None)
    if st is None:
        return {"state": "insufficient_data", "budget_remaining": None, "burn_rates": {}}
    remaining = None if st.budget_remaining is None else max(0.0, min(1.0, st.budget_remaining))
    return {
        "state": st.state, "budget_remaining": remaining, "budget_remaining_raw": st.budget_remaining,
        "burn_rates": st.burn_rates, "sli": st.sli, "good": st.good, "total": st.total,
        "window_start": st.window_start, "exhaustion_at": st.exhaustion_at, "last_bucket_at": st.last_bucket_at,
        "absent": st.absent, "budget_exhausted": st.state == "exhausted", "evaluated_at": st.evaluated_at,
    }


class SLOSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="name", queryset=Service.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all(),
                                         allow_null=True, required=False)
    objective = serializers.DecimalField(max_digits=7, decimal_places=4, coerce_to_string=False)
    labels = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True), required=False)
    tiers = TierSerializer(many=True, required=False, source="policy.tiers")
    min_events = serializers.IntegerField(min_value=1, max_value=10**9, required=False, source="policy.min_events")
    absent_minutes = serializers.IntegerField(min_value=0, max_value=100_000, required=False,
                                              source="policy.absent_minutes")
    status = serializers.SerializerMethodField()

    class Meta:
        model = SLO
        fields = ["slug", "name", "service", "description", "sli", "latency_threshold_ms", "objective", "window",
                  "timezone", "budgeting", "timeslice_minutes", "timeslice_target", "labels", "owner", "protected",
                  "sli_source", "internal_sli", "prometheus_good_query", "prometheus_total_query", "min_events",
                  "absent_minutes", "tiers", "status", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"slug": {"validators": []}}

    def get_status(self, obj) -> dict:
        return status_payload(obj)


def _prometheus_warnings(slo: SLO) -> list[str]:
    if slo.sli_source != SLO.Source.PROMETHEUS or not getattr(settings, "PROMETHEUS_URL", ""):
        return []
    from reliability.slos.services.prometheus import retention

    try:
        kept = retention()
    except Exception:  # Prometheus away: no warning rather than a failed save
        return ["could not ask Prometheus for its retention"]
    warning = validation.prometheus_retention_warning(window=slo.window, retention_text=kept or "")
    return [warning] if warning else []


def _django_errors(exc: DjangoValidationError):
    return serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})


class SLOPagination(IdCursorPagination):
    ordering = "slug"


class SLOViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
                 mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """SLOs: read with `read` or any portal role; write as an operator. `status/` is the live budget."""

    serializer_class = SLOSerializer
    pagination_class = SLOPagination
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    token_scopes = SLO_SCOPES

    def get_queryset(self):
        return SLO.objects.select_related("service", "owner", "status", "policy").prefetch_related("policy__tiers")

    def _respond(self, slo: SLO, code: int) -> Response:
        slo = self.get_queryset().get(pk=slo.pk)
        data = dict(self.get_serializer(slo).data)
        data["warnings"] = _prometheus_warnings(slo)
        return Response(data, status=code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        policy = data.pop("policy", {})
        tiers = policy.get("tiers")
        try:
            slo = services.slo_create(actor=Actor.from_request(request), source="api", tiers=tiers,
                                      **{k: v for k, v in policy.items() if k != "tiers"}, **data)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return self._respond(slo, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("slug", instance.slug) != instance.slug:
            raise serializers.ValidationError({"slug": ["the slug is the SLO's address and cannot change"]})
        policy = data.pop("policy", {})
        actor = Actor.from_request(request)
        try:
            slo = services.slo_update(slo_id=instance.pk, actor=actor, source="api", min_events=policy.get("min_events"),
                                      absent_minutes=policy.get("absent_minutes"), **data)
            by_name = {t.name: t for t in instance.policy.tiers.all()}
            for tier in policy.get("tiers") or []:
                existing = by_name.get(tier.get("name"))
                if existing is None:
                    raise serializers.ValidationError({"tiers": [f"no tier named {tier.get('name')!r} (tiers are edited by name)"]})
                services.tier_update(tier_id=existing.pk, actor=actor, source="api",
                                     **{k: v for k, v in tier.items() if k in TIER_FIELDS})
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return self._respond(slo, status.HTTP_200_OK)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        services.slo_delete(slo_id=instance.pk, actor=Actor.from_request(request), source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="status", pagination_class=None)
    def status(self, request, slug=None):
        """`budget_remaining` (0–1), `burn_rates` (window → rate), `state` (ok|burning|exhausted|insufficient_data)."""
        slo = self.get_object()
        return Response({"slug": slo.slug, "service": slo.service.name, "objective": float(slo.objective),
                         "window": slo.window, **status_payload(slo),
                         "tiers": TierSerializer(selectors.tiers_of(slo), many=True).data})


class SLIEventsView(APIView):
    """POST SLI good/total counts per minute; an upsert per minute (the last write for a minute wins)."""

    token_scopes = {"write": "slo:write"}
    roles = {"write": {OPERATOR}}

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request, slug: str):
        slo = get_object_or_404(SLO.objects.only("pk", "slug"), slug=slug)
        try:
            items = push.parse_events(request.data)
        except push.PushError as exc:
            raise serializers.ValidationError(exc.errors) from exc
        minutes = services.sli_buckets_upsert(slo_id=slo.pk, items=items)
        return Response({"slug": slo.slug, "accepted": len(items), "minutes": minutes})
