"""/api/v1/dlq/groups/: the DLQ's "issues" and replay progress (additions to DESIGN §6, docs/webhooks.md).

- ``GET /api/v1/dlq/groups/`` open items grouped by signature (destination +
  failure class + status code + normalised error): ``signature``,
  ``destination``, ``failure_class``, ``status_code``, ``error``, ``count``,
  ``first_seen``, ``last_seen``, ``strategy``, ``hint``; filters as the item
  list (``destination``, ``source``, ``failure_class`` …).
- ``POST /api/v1/dlq/groups/<signature>/retry/`` (optional ``{"reason"}``)
  replays exactly the group's open items; ``…/discard/`` (``{"reason"}``
  required) discards them. One audit entry each. 404 for a group with no open
  item left.
- ``GET /api/v1/dlq/replays/`` the replays of the last hour with their
  progress (done/total, rate, ETA).

Same permissions as the item endpoints: reads operators or ``read``, writes
operators or ``dlq:write``.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from opsportal.api.errors import Conflict
from reliability.webhooks.api.dlq import (
    DLQ_ROLES,
    DLQ_SCOPES,
    DlqReasonSerializer,
    DlqRequiredReasonSerializer,
    DlqRetryResultSerializer,
    may_see_contents,
)
from reliability.webhooks.selectors.dlq import DlqFilter, DlqFilterError
from reliability.webhooks.selectors.dlq_groups import dlq_group_get, dlq_groups, replays_recent
from reliability.webhooks.services.dlq import DlqItemNotOpen, dlq_discard, dlq_retry

GROUP_FILTERS = ("source", "destination", "event_type", "failure_class", "created_since", "created_until")
MAX_GROUPS = 500


class DlqGroupSerializer(serializers.Serializer):
    signature = serializers.CharField()
    destination = serializers.SerializerMethodField()
    failure_class = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(help_text="the normalised error text (digits, ids, hex, timestamps stripped)")
    example = serializers.CharField(help_text="one item's error (null for a plain read token)", allow_null=True)
    count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    strategy = serializers.CharField(help_text="the destination's recovery strategy for this class")
    hint = serializers.CharField()

    def get_destination(self, obj) -> dict | None:
        return None if obj.destination_id is None else {"id": obj.destination_id, "name": obj.destination}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("contents", False):
            data["example"] = None
        return data


class DlqGroupDiscardResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())


class ReplayProgressSerializer(serializers.Serializer):
    replay_id = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    delivered = serializers.IntegerField()
    rate = serializers.FloatField(help_text="items per second")
    eta_seconds = serializers.FloatField(allow_null=True)
    actor = serializers.CharField()
    source = serializers.CharField()
    strategy = serializers.CharField()
    description = serializers.CharField()


def _filters(request) -> dict:
    raw = {k: request.query_params[k] for k in GROUP_FILTERS if request.query_params.get(k)}
    try:
        spec = DlqFilter.of(raw)
        spec.q()
    except DlqFilterError as exc:
        raise ApiValidationError({exc.field: [exc.message]}) from exc
    except (TypeError, ValueError) as exc:
        raise ApiValidationError({"non_field_errors": [str(exc)]}) from exc
    return raw


def _group_or_404(signature: str):
    try:
        DlqFilter(group=signature).validate()
    except DlqFilterError as exc:
        raise Http404("no such DLQ group") from exc
    group = dlq_group_get(signature)
    if group is None:
        raise Http404("no open DLQ items in this group")
    return group


class DlqGroupListView(APIView):
    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_groups_list", responses=DlqGroupSerializer(many=True))
    def get(self, request):
        groups = dlq_groups(filters=_filters(request), limit=MAX_GROUPS)
        return Response(DlqGroupSerializer(groups, many=True, context={"contents": may_see_contents(request)}).data)


class DlqGroupRetryView(APIView):
    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_group_retry", request=DlqReasonSerializer, responses=DlqRetryResultSerializer)
    def post(self, request, signature: str):
        body = DlqReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _group_or_404(signature)
        result = dlq_retry(filters={"group": signature}, reason=body.validated_data["reason"],
                           actor=Actor.from_request(request), source="api")
        if not result.ids:
            raise Conflict("every item of this group is being changed by another operation")
        return Response({"dry_run": False, "count": result.count, "ids": list(result.ids), "skipped": [],
                         "filter": result.filter})


class DlqGroupDiscardView(APIView):
    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_group_discard", request=DlqRequiredReasonSerializer,
                   responses=DlqGroupDiscardResultSerializer)
    def post(self, request, signature: str):
        body = DlqRequiredReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _group_or_404(signature)
        try:
            result = dlq_discard(filters={"group": signature}, reason=body.validated_data["reason"],
                                 actor=Actor.from_request(request), source="api")
        except DlqItemNotOpen as exc:
            raise Conflict(str(exc)) from exc
        return Response({"count": result.count, "ids": list(result.ids)})


class DlqReplayListView(APIView):
    token_scopes = DLQ_SCOPES
    roles = DLQ_ROLES

    @extend_schema(operation_id="dlq_replays_list", responses=ReplayProgressSerializer(many=True))
    def get(self, request):
        return Response(ReplayProgressSerializer(replays_recent(limit=20), many=True).data)


urlpatterns = [
    path("groups/", DlqGroupListView.as_view(), name="dlq-groups"),
    path("groups/<str:signature>/retry/", DlqGroupRetryView.as_view(), name="dlq-group-retry"),
    path("groups/<str:signature>/discard/", DlqGroupDiscardView.as_view(), name="dlq-group-discard"),
    path("replays/", DlqReplayListView.as_view(), name="dlq-replays"),
]
