"""Configuration as code: ``/api/v1/webhooks/sources/`` and ``/api/v1/webhooks/destinations/``.

Field names follow DESIGN §6. Secrets are write-only: a source's ``secrets``
never appear in a response; a destination's ``signing_secret`` appears once,
in the create response. Operators (or tokens with ``webhooks:admin``) only,
reads included.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR
from opsportal.api.errors import Conflict
from reliability.webhooks.models import WebhookDestination, WebhookSource
from reliability.webhooks.selectors.config import destination_list, source_list
from reliability.webhooks.services.config import (
    MAX_SECRETS,
    RouteSpec,
    WebhookConfigInUse,
    webhook_destination_create,
    webhook_destination_delete,
    webhook_destination_disable,
    webhook_destination_update,
    webhook_source_create,
    webhook_source_delete,
    webhook_source_update,
)
from reliability.webhooks.signatures import validate_secret


class WebhookDestinationSerializer(serializers.ModelSerializer):
    signing_secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200,
        help_text="whsec_<base64>; generated when absent and shown only in the create response",
    )
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50,
        help_text="portal event types this destination subscribes to ('*' wildcards)",
    )
    breaker_name = serializers.CharField(read_only=True)

    class Meta:
        model = WebhookDestination
        fields = [
            "id", "name", "url", "timeout_seconds", "signing_secret", "enabled", "disabled_reason", "disabled_at",
            "event_types", "breaker_name", "created_at", "updated_at",
            "dlq_strategies", "dlq_discard_after_days", "rate_limit_per_second", "concurrency_limit",  # dlq-heal
        ]
        read_only_fields = ["id", "disabled_at", "breaker_name", "created_at", "updated_at"]
        # Uniqueness is checked by the service (race-safe), not by a pre-query here.
        extra_kwargs = {"name": {"validators": []}}


class WebhookDestinationCreatedSerializer(WebhookDestinationSerializer):
    """The create response: the only time the signing secret is shown."""

    signing_secret = serializers.CharField(read_only=True)


class DestinationDisableSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, trim_whitespace=True, help_text="why deliveries stop (required)")


class RouteSerializer(serializers.Serializer):
    destination = serializers.IntegerField(source="destination_id", min_value=1)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=50, default=list,
        help_text="empty: every event type; '*' wildcards (charge.*)",
    )


class RouteDestinationsField(serializers.ListField):
    """``destinations``: the routed destination ids (read from the routes)."""

    def get_attribute(self, instance):
        return [route.destination_id for route in instance.routes.all()]


class WebhookSourceSerializer(serializers.ModelSerializer):
    secrets = serializers.ListField(
        child=serializers.CharField(max_length=500, trim_whitespace=False), write_only=True, required=False,
        min_length=1, max_length=MAX_SECRETS,
        help_text="active signing secrets (rotation: [new, old]); for standard the whsec_<base64> form. Never returned.",
    )
    secret_count = serializers.SerializerMethodField()
    destinations = RouteDestinationsField(
        child=serializers.IntegerField(min_value=1), required=False,
        help_text="ids of the destinations accepted events are delivered to",
    )
    routes = RouteSerializer(
        many=True, required=False,
        help_text="destinations with optional event-type filters; send either this or 'destinations'",
    )
    ingest_url = serializers.CharField(source="ingest_path", read_only=True)

    class Meta:
        model = WebhookSource
        fields = [
            "id", "slug", "description", "scheme", "secrets", "secret_count", "tolerance_seconds", "max_body_bytes",
            "hmac_header", "hmac_event_id_header", "retry_strategy", "retry_max_attempts", "retry_base_seconds",
            "retry_max_seconds", "destinations", "routes", "enabled", "ingest_url", "created_at", "updated_at",
            "dlq_strategies", "dlq_discard_after_days",  # dlq-heal
        ]
        read_only_fields = ["id", "secret_count", "ingest_url", "created_at", "updated_at"]
        extra_kwargs = {"slug": {"validators": []}}

    def get_secret_count(self, obj: WebhookSource) -> int:
        return len(obj.secrets or [])

    def validate(self, attrs):
        instance = self.instance
        scheme = attrs.get("scheme", instance.scheme if instance else None)
        if instance is None and "secrets" not in attrs:
            raise serializers.ValidationError({"secrets": ["at least one secret is required"]})
        secrets = attrs.get("secrets", instance.secrets if instance else [])
        for index, secret in enumerate(secrets):
            problem = validate_secret(scheme, secret)
            if problem:
                # A scheme change that invalidates stored secrets is reported on "secrets" too.
                raise serializers.ValidationError({"secrets": [f"secret #{index + 1}: {problem}"]})
        if "routes" in attrs and "destinations" in attrs:
            if sorted(r["destination_id"] for r in attrs["routes"]) != sorted(attrs["destinations"]):
                raise serializers.ValidationError({"routes": ["names other destinations than 'destinations'; send one of them"]})
        return attrs

    @staticmethod
    def route_specs(validated: dict, instance: WebhookSource | None) -> list[RouteSpec] | None:
        """The routes to set from ``routes`` or ``destinations`` (None: leave them)."""
        if "routes" in validated:
            return [RouteSpec(destination_id=r["destination_id"], event_types=tuple(r.get("event_types") or ())) for r in validated["routes"]]
        if "destinations" in validated:
            # Keep the filters of destinations that stay.
            kept = {r.destination_id: tuple(r.event_types) for r in instance.routes.all()} if instance else {}
            return [RouteSpec(destination_id=d, event_types=kept.get(d, ())) for d in validated["destinations"]]
        return None


class _WebhookConfigViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet,
):
    # Reads too: configuration is an operator's business (DESIGN §6).
    token_scopes = {"read": "webhooks:admin", "write": "webhooks:admin"}
    roles = {"read": {OPERATOR}, "write": {OPERATOR}}


class WebhookDestinationViewSet(_WebhookConfigViewSet):
    """Webhook destinations: where the portal delivers (signed with the destination's own secret)."""

    serializer_class = WebhookDestinationSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return destination_list()

    @extend_schema(responses={201: WebhookDestinationCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        destination = webhook_destination_create(actor=Actor.from_request(request), source="api", **serializer.validated_data)
        return Response(WebhookDestinationCreatedSerializer(destination).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        destination = webhook_destination_update(
            destination_id=instance.pk, actor=Actor.from_request(request), source="api", **serializer.validated_data
        )
        return Response(WebhookDestinationSerializer(destination).data)

    @extend_schema(request=DestinationDisableSerializer, responses=WebhookDestinationSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, *args, **kwargs):
        """Stop delivering to this destination (the same service as the admin action and a receiver's 410)."""
        instance = self.get_object()
        body = DestinationDisableSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        webhook_destination_disable(
            destination_id=instance.pk, reason=body.validated_data["reason"], actor=Actor.from_request(request), source="api"
        )
        return Response(WebhookDestinationSerializer(destination_list().get(pk=instance.pk)).data)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        try:
            webhook_destination_delete(destination_id=instance.pk, actor=Actor.from_request(request), source="api")
        except WebhookConfigInUse as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSourceViewSet(_WebhookConfigViewSet):
    """Webhook sources: who may post to ``/api/v1/webhooks/in/<slug>/`` and how they sign."""

    serializer_class = WebhookSourceSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_queryset(self):
        return source_list()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        routes = serializer.route_specs(data, None) or []
        data.pop("routes", None)
        data.pop("destinations", None)
        source = webhook_source_create(actor=Actor.from_request(request), source="api", routes=routes, **data)
        return Response(WebhookSourceSerializer(source_list().get(pk=source.pk)).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        routes = serializer.route_specs(data, instance)
        data.pop("routes", None)
        data.pop("destinations", None)
        source = webhook_source_update(source_id=instance.pk, actor=Actor.from_request(request), source="api", routes=routes, **data)
        return Response(WebhookSourceSerializer(source_list().get(pk=source.pk)).data)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        try:
            webhook_source_delete(source_id=instance.pk, actor=Actor.from_request(request), source="api")
        except WebhookConfigInUse as exc:
            raise Conflict(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
