"""/api/v1/alerts/… (intake) and /api/v1/incidents/… (DESIGN §6): validate, call one service, render."""

from __future__ import annotations

import logging
import time

from django.contrib.auth import get_user_model
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR
from opsportal.api.errors import Conflict, ServiceUnavailable
from opsportal.api.serializers import ModelSerializer
from opsportal.catalog.models import Service
from reliability.incidents import metrics, selectors
from reliability.incidents.models import Incident, IncidentEvent, Severity
from reliability.incidents.names import Source
from reliability.incidents.payloads import PayloadError, parse_alertmanager, parse_event
from reliability.incidents.services import (
    IncidentActionRefused,
    alerts_ingest,
    event_process,
    incident_acknowledge,
    incident_assign,
    incident_comment,
    incident_open,
    incident_resolve,
)

log = logging.getLogger("reliability.incidents.intake")
INTAKE_SCOPES = {"read": None, "write": "alerts:write"}
INTAKE_ROLES = {"read": set(), "write": {OPERATOR}}
INCIDENT_SCOPES = {"read": "read", "write": "incidents:write"}
TRANSIENT = (OperationalError, InterfaceError)


def _bad_payload(source: str, exc: PayloadError, count: int = 1):
    metrics.ALERTS_RECEIVED.labels(source=source, result="malformed").inc(count)
    return exceptions.ValidationError({exc.field: [exc.message]})


def _unavailable(source: str, exc: Exception, count: int):
    metrics.ALERTS_RECEIVED.labels(source=source, result="unavailable").inc(count)
    log.warning("alert intake could not commit (%s): %s", source, type(exc).__name__)
    err = ServiceUnavailable("the alerts could not be stored; retry later")
    err.wait = 5
    return err


class AlertmanagerReceiverView(APIView):
    """Alertmanager webhook receiver (payload version 4). 200 after commit; 400 names the bad field;
    503 only when the database is unreachable (Alertmanager retries 5xx only)."""

    token_scopes = INTAKE_SCOPES
    roles = INTAKE_ROLES

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request):
        started = time.perf_counter()
        try:
            group = parse_alertmanager(request.data)
        except PayloadError as exc:
            raise _bad_payload("alertmanager", exc) from None
        n = len(group.alerts)
        try:
            result = alerts_ingest(group=group, actor=Actor.from_request(request), source=Source.ALERTMANAGER)
        except (*TRANSIENT, IntegrityError) as exc:
            raise _unavailable("alertmanager", exc, n) from exc
        metrics.ALERTS_RECEIVED.labels(source="alertmanager", result="accepted").inc(n)
        return Response({"status": "success", "incident": result.incident_id, "alerts": n,
                         "opened": result.opened, "reopened": result.reopened, "resolved": result.resolved,
                         "held_by_threshold": result.held_by_threshold,
                         "took_ms": round((time.perf_counter() - started) * 1000, 2)})


class EventsView(APIView):
    """PagerDuty Events API v2: ``event_action`` trigger/acknowledge/resolve by ``dedup_key``; 202."""

    token_scopes = INTAKE_SCOPES
    roles = INTAKE_ROLES

    @extend_schema(request=dict, responses={202: dict})
    def post(self, request):
        try:
            event = parse_event(request.data)
        except PayloadError as exc:
            raise _bad_payload("events", exc) from None
        try:
            event_process(event=event, actor=Actor.from_request(request))
        except IncidentActionRefused:
            pass  # acknowledging what was resolved meanwhile: PagerDuty accepts and ignores it
        except (*TRANSIENT, IntegrityError) as exc:
            raise _unavailable("events", exc, 1) from exc
        metrics.ALERTS_RECEIVED.labels(source="events", result="accepted").inc()
        return Response({"status": "success", "message": "Event processed", "dedup_key": event.dedup_key},
                        status=status.HTTP_202_ACCEPTED)


# --- incidents ----------------------------------------------------------------------------

class IncidentSerializer(ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "number", "title", "status", "severity", "service", "group_key", "dedup_key",
                  "started_at", "acknowledged_at", "resolved_at"]
        read_only_fields = fields


class TimelineSerializer(ModelSerializer):
    class Meta:
        model = IncidentEvent
        fields = ["id", "kind", "actor_label", "source", "data", "at"]


class IncidentDetailSerializer(IncidentSerializer):
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    timeline = serializers.SerializerMethodField()
    alerts = serializers.SerializerMethodField()
    silences = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "assignee", "reopened_count", "previous", "merged_into",
                  "ack_expires_at", "silenced_until", "source", "runbook_url", "timeline", "alerts", "silences"]
        read_only_fields = fields

    def get_timeline(self, obj) -> list[dict]:
        return TimelineSerializer(obj.timeline.all()[:500], many=True).data

    def get_alerts(self, obj) -> list[dict]:
        return list(obj.alerts.values("fingerprint", "status", "labels", "starts_at", "ends_at")[:500])

    def get_silences(self, obj) -> list[dict]:
        return list(obj.silences.values("id", "alertmanager_id", "state", "starts_at", "ends_at", "created_by",
                                        "attempts", "last_error"))


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=500)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.P2)
    service = serializers.SlugRelatedField(slug_field="name", queryset=Service.objects.all(), required=False,
                                           allow_null=True)


class AcknowledgeSerializer(serializers.Serializer):
    silence_minutes = serializers.IntegerField(required=False, default=0, min_value=0, max_value=60 * 24 * 30)


class ResolveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=10_000)


class AssignSerializer(serializers.Serializer):
    assignee = serializers.SlugRelatedField(slug_field="username", allow_null=True,
                                            queryset=get_user_model().objects.filter(is_active=True))


class CommentSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=10_000)


class IncidentFilter(filters.FilterSet):
    status = filters.CharFilter(method="_noop")
    severity = filters.CharFilter(method="_noop")
    service = filters.CharFilter(method="_noop")
    search = filters.CharFilter(method="_noop")

    def _noop(self, qs, name, value):
        return qs  # applied by the selector (one place for the rules)

    class Meta:
        model = Incident
        fields = ["status", "severity", "service", "search"]


class IncidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Incidents: list (filters status, severity, service, search), detail, report one, and act on one."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    lookup_value_regex = r"\d+"
    token_scopes = INCIDENT_SCOPES

    def get_queryset(self):
        p = self.request.query_params
        return selectors.incident_list(status=p.get("status"), severity=p.get("severity"),
                                       service=p.get("service"), search=p.get("search"))

    def get_serializer_class(self):
        return IncidentDetailSerializer if self.action == "retrieve" else IncidentSerializer

    @extend_schema(request=IncidentCreateSerializer, responses={201: IncidentSerializer})
    def create(self, request):
        body = IncidentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        import uuid

        incident = incident_open(title=body.validated_data["title"], severity=body.validated_data["severity"],
                                 service=body.validated_data.get("service"), group_key=f"manual:{uuid.uuid4().hex}",
                                 actor=Actor.from_request(request), source=Source.API, origin="portal")
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)

    def _act(self, request, pk, service, body_class=None, **fixed):
        data = {}
        if body_class is not None:
            body = body_class(data=request.data)
            body.is_valid(raise_exception=True)
            data = dict(body.validated_data)
        try:
            service(incident_id=int(pk), actor=Actor.from_request(request), source=Source.API, **data, **fixed)
        except Incident.DoesNotExist as exc:
            raise Http404 from exc
        except IncidentActionRefused as exc:
            raise Conflict(str(exc)) from exc
        except TRANSIENT as exc:
            raise ServiceUnavailable("the incident could not be changed; retry") from exc
        return Response(IncidentDetailSerializer(selectors.incident_list().get(pk=pk)).data)

    @extend_schema(request=AcknowledgeSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._act(request, pk, incident_acknowledge, AcknowledgeSerializer)

    @extend_schema(request=ResolveSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._act(request, pk, incident_resolve, ResolveSerializer)

    @extend_schema(request=AssignSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        body = AssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = body.validated_data["assignee"]
        return self._act(request, pk, incident_assign, assignee_id=user.pk if user else None)

    @extend_schema(request=CommentSerializer, responses=IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def comment(self, request, pk=None):
        return self._act(request, pk, incident_comment, CommentSerializer)


class ResponseTimesView(APIView):
    """MTTA/MTTR per service and severity (``since``/``until`` ISO-8601, optional)."""

    token_scopes = {"read": "read"}

    @extend_schema(parameters=[OpenApiParameter("since", str), OpenApiParameter("until", str)], responses=dict)
    def get(self, request):
        from reliability.incidents.payloads import parse_time

        try:
            since = parse_time(request.query_params.get("since"), "since")
            until = parse_time(request.query_params.get("until"), "until")
        except PayloadError as exc:
            raise exceptions.ValidationError({exc.field: [exc.message]}) from None
        return Response({"results": selectors.response_times(since=since, until=until)})


__all__ = ["AlertmanagerReceiverView", "EventsView", "IncidentViewSet", "ResponseTimesView"]
