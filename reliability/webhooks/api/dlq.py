"""/api/v1/dlq/: the dead-letter queue over the API (DESIGN §6).

- ``GET /api/v1/dlq/`` open items (``resolution=retried|discarded|any`` for the
  others), filters ``source``, ``destination``, ``event_type``,
  ``error_contains``, ``created_since``, ``created_until``, ``failure_class``
  (one or comma-separated), ``group`` (a group signature); cursor pagination.
  Items carry ``failure_class``, ``status_code``, ``group`` and ``hint``.
- ``GET /api/v1/dlq/<id>/`` one item with its payload.
- ``POST /api/v1/dlq/<id>/retry/`` (optional ``{"reason"}``),
  ``POST /api/v1/dlq/<id>/discard/`` (``{"reason"}`` required): 409 when the
  item is no longer open.
- ``POST /api/v1/dlq/retry/`` bulk by filter body (``ids``, the filters,
  ``since`` as ``1h`` or an ISO instant, or ``all: true``), ``dry_run`` to
  see what would be retried.

Reads: operators or a ``read`` token; writes: operators or ``dlq:write``. Every
write calls the same service as the admin, /ops/ and the CLI (source "api").

What a destination answered (``error_message``, an excerpt of its response) and the
payload are shown only to principals that may act on the queue: operators and tokens with
``dlq:write`` (or ``admin``). A plain ``read`` token sees them as null, and cannot filter
on ``error_contains`` (it would read the excerpt back a substring at a time).
Mounted at /api/v1/dlq/ by opsportal/api/urls.py.
"""

from __future__ import annotations

import django_filters
from django.http import Http404
from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from opsportal.accounts.models import IntegrationToken
from opsportal.accounts.roles import OPERATOR, has_role
from opsportal.api.errors import Conflict
from opsportal.common.timebounds import parse_since
from reliability.webhooks.models import WebhookFailure
from reliability.webhooks.selectors.dlq import (
    MAX_ERROR_CONTAINS_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    DlqFilter,
    DlqFilterError,
    dlq_get,
    dlq_list,
)
from reliability.webhooks.services.dlq import MAX_REASON_LENGTH, DlqItemNotOpen, dlq_discard, dlq_retry

DLQ_SCOPES = {"read": "read", "write": "dlq:write"}
DLQ_ROLES = {"read": {OPERATOR}, "write": {OPERATOR}}
MAX_BULK_IDS = 10_000
ANY_RESOLUTION = "any"
# Shown only to principals that may see payloads (module docstring).
CONTENT_FIELDS = ("error_message", "payload")


def may_see_contents(request) -> bool:
    """Operators and tokens that may write to the DLQ; not a plain ``read`` token."""
    if request is None:
        return False
    if isinstance(request.auth, IntegrationToken):
        return request.auth.has_scope(DLQ_SCOPES["write"])
    return has_role(request.user, *DLQ_ROLES["write"])


# --- serializers -------------------------------------------------------------------------


class DlqItemSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text="the source's slug (null for outbound portal events)")
    destination = serializers.SerializerMethodField()
    event = serializers.SerializerMethodField()
    attempts = serializers.IntegerField(source="delivery.attempts", read_only=True)
    resolved_by = serializers.CharField(source="resolved_by_label", read_only=True)
    group = serializers.CharField(source="group_signature", read_only=True,
                                  help_text="the item's issue: GET /api/v1/dlq/groups/ lists them")
    hint = serializers.CharField(read_only=True, help_text="what to do about this class (e.g. after a secret rotation)")

    class Meta:
        model = WebhookFailure
        fields = [
            "id", "delivery", "event", "source", "provider", "destination", "event_type", "error_message", "attempts",
            "retry_count", "last_retry_at", "created_at", "resolution", "resolved_by", "resolution_reason", "resolved_at",
            "failure_class", "status_code", "group", "hint",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("contents", False):
            for name in CONTENT_FIELDS:
                if name in data:
                    data[name] = None
        return data

    def get_destination(self, obj) -> dict | None:
        d = obj.destination
        return None if d is None else {"id": d.pk, "name": d.name}

    def get_event(self, obj) -> dict:
        """The stored event: its id here and the provider's event id (the ``webhook-id`` receivers dedupe on)."""
        event = obj.delivery.event
        return {"id": event.pk, "provider_event_id": event.provider_event_id}


class DlqItemDetailSerializer(DlqItemSerializer):
    payload = serializers.SerializerMethodField()

    class Meta(DlqItemSerializer.Meta):
        fields = [*DlqItemSerializer.Meta.fields, "payload"]
        read_only_fields = fields

    def get_payload(self, obj) -> str:
        """The body as received, as text (undecodable bytes replaced)."""
        return bytes(obj.payload or b"").decode("utf-8", errors="replace")


class DlqReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, required=False, allow_blank=True, default="")


class DlqRequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, allow_blank=False, trim_whitespace=True)


class _DlqFilterFields(serializers.Serializer):
    source = serializers.CharField(max_length=100, required=False)
    destination = serializers.CharField(max_length=100, required=False, help_text="destination id or name")
    event_type = serializers.CharField(max_length=MAX_EVENT_TYPE_LENGTH, required=False, help_text="exact, or a prefix ending in * (charge.*)")
    error_contains = serializers.CharField(max_length=MAX_ERROR_CONTAINS_LENGTH, required=False)
    created_since = serializers.DateTimeField(required=False)
    created_until = serializers.DateTimeField(required=False)
    failure_class = serializers.CharField(max_length=300, required=False, help_text="a failure class, or several comma-separated")
    group = serializers.CharField(max_length=16, required=False, help_text="a group signature")


class DlqBulkRetrySerializer(_DlqFilterFields):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_BULK_IDS, allow_empty=False)
    since = serializers.CharField(required=False, max_length=64, help_text="entered the DLQ since: a duration back from now (30m, 1h, 2d) or an ISO 8601 instant")
    all = serializers.BooleanField(required=False, default=False, help_text="retry every open item (needed when no other selector is given)")
    dry_run = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(max_length=MAX_REASON_LENGTH, required=False, allow_blank=True, default="")

    def validate_since(self, value):
        try:
            return parse_since(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, attrs):
        selectors = {k for k in attrs if k not in {"all", "dry_run", "reason"}}
        if not selectors and not attrs.get("all"):
            raise serializers.ValidationError(
                {"non_field_errors": ["give ids, a filter or since (or all: true to retry every open item)"]}
            )
        return attrs


class DlqRetryResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    count = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())
    skipped = serializers.ListField(child=serializers.IntegerField(), help_text="requested ids not retried (not open, or taken by a concurrent retry)")
    filter = serializers.DictField()


class DlqItemActionResultSerializer(serializers.Serializer):
    item = DlqItemSerializer()


# --- filters (django-filter), the same DlqFilter the services use --------------------------


def _apply(field: str):
    def method(queryset, name, value):
        try:
            return queryset.filter(DlqFilter(**{field: value}).q())
        except DlqFilterError as exc:
            raise ApiValidationError({exc.field: [exc.message]}) from exc

    return method


class DlqFilterSet(django_filters.FilterSet):
    source = django_filters.CharFilter(method=_apply("source"), max_length=100, help_text="source slug ('portal' for outbound events)")
    destination = django_filters.CharFilter(method=_apply("destination"), max_length=100, help_text="destination id or name")
    event_type = django_filters.CharFilter(method=_apply("event_type"), max_length=MAX_EVENT_TYPE_LENGTH, help_text="exact, or a prefix ending in *")
    error_contains = django_filters.CharFilter(method=_apply("error_contains"), max_length=MAX_ERROR_CONTAINS_LENGTH)
    created_since = django_filters.IsoDateTimeFilter(method=_apply("created_since"))
    created_until = django_filters.IsoDateTimeFilter(method=_apply("created_until"))
    failure_class = django_filters.CharFilter(method=_apply("failure_class"), max_length=300,
                                              help_text="a failure class, or several comma-separated")
    group = django_filters.CharFilter(method=_apply("group"), max_length=16, help_text="a group signature")
    resolution = django_filters.ChoiceFilter(
        choices=[*WebhookFailure.Resolution.choices, (ANY_RESOLUTION, "any")], method="filter_resolution",
        help_text="default: open",
    )

    class Meta:
        model = WebhookFailure
        fields = []

    def filter_resolution(self, queryset, name, value):
        return queryset if value == ANY_RESOLUTION else queryset.filter(resolution=value)


# --- views -----------------------------------------------------------------------------------


class DlqListView(generics.ListAPIView):
    """Open DLQ items, newest first (``resolution`` for others), with filters and a cursor."""

    serializer_class = DlqItemSerializer
    filterset_class = DlqFilterSet
    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "contents": may_see_contents(self.request)}

    def filter_queryset(self, queryset):
        if self.request.query_params.get("error_contains") and not may_see_contents(self.request):
            raise PermissionDenied("filtering on error_contains needs the 'dlq:write' scope (error excerpts are "
                                   "shown only to those who may act on the queue)")
        return super().filter_queryset(queryset)

    def get_queryset(self):
        resolution = None if "resolution" in self.request.query_params else WebhookFailure.Resolution.OPEN
        return dlq_list(resolution=resolution)


class DlqDetailView(APIView):
    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_retrieve", responses=DlqItemDetailSerializer)
    def get(self, request, failure_id: int):
        item = dlq_get(failure_id=failure_id)
        if item is None:
            raise Http404
        return Response(DlqItemDetailSerializer(item, context={"contents": may_see_contents(request)}).data)


def _item_response(request, failure_id: int) -> Response:
    item = DlqItemSerializer(dlq_get(failure_id=failure_id), context={"contents": may_see_contents(request)})
    return Response({"item": item.data})


def _not_open(exc: DlqItemNotOpen):
    if exc.all_missing:
        return Http404("no such DLQ item")
    return Conflict(str(exc))


class DlqRetryView(APIView):
    """POST: hand one item back to delivery (one attempt now). 409 when it is not open."""

    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_retry", request=DlqReasonSerializer, responses=DlqItemActionResultSerializer)
    def post(self, request, failure_id: int):
        body = DlqReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            dlq_retry(failure_ids=[failure_id], reason=body.validated_data["reason"], actor=Actor.from_request(request), source="api")
        except DlqItemNotOpen as exc:
            raise _not_open(exc) from exc
        return _item_response(request, failure_id)


class DlqDiscardView(APIView):
    """POST {"reason": "…"}: give up on one item. 409 when it is not open."""

    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_discard", request=DlqRequiredReasonSerializer, responses=DlqItemActionResultSerializer)
    def post(self, request, failure_id: int):
        body = DlqRequiredReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            dlq_discard(failure_id=failure_id, reason=body.validated_data["reason"], actor=Actor.from_request(request), source="api")
        except DlqItemNotOpen as exc:
            raise _not_open(exc) from exc
        return _item_response(request, failure_id)


class DlqBulkRetryView(APIView):
    """POST a filter body: retry every open item it selects (or, with dry_run, list them)."""

    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_bulk_retry", request=DlqBulkRetrySerializer, responses=DlqRetryResultSerializer)
    def post(self, request):
        body = DlqBulkRetrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        filters = {k: data[k] for k in DlqFilter.__dataclass_fields__ if k in data}
        try:
            result = dlq_retry(
                failure_ids=data.get("ids"), filters=filters, since=data.get("since"), reason=data["reason"],
                dry_run=data["dry_run"], actor=Actor.from_request(request), source="api",
            )
        except DlqFilterError as exc:
            raise ApiValidationError({exc.field: [exc.message]}) from exc
        except DlqItemNotOpen as exc:
            raise Conflict(str(exc)) from exc
        return Response({
            "dry_run": result.dry_run, "count": result.count, "ids": list(result.ids), "skipped": list(result.skipped),
            "filter": result.filter,
        })


urlpatterns = [
    path("", DlqListView.as_view(), name="dlq-list"),
    # By name (a string include): dlq_groups imports this module.
    path("", include("reliability.webhooks.api.dlq_groups")),  # groups/…, replays/
    path("retry/", DlqBulkRetryView.as_view(), name="dlq-bulk-retry"),
    path("<int:failure_id>/", DlqDetailView.as_view(), name="dlq-detail"),
    path("<int:failure_id>/retry/", DlqRetryView.as_view(), name="dlq-retry"),
    path("<int:failure_id>/discard/", DlqDiscardView.as_view(), name="dlq-discard"),
]
