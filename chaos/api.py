"""/api/v1/chaos/: drills (CRUD, submit, approve, schedule, halt), runs with journals, the kill switch."""

from __future__ import annotations

from django.db import transaction
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from chaos import selectors, services
from chaos.models import ChaosDrill, ChaosJournalEntry, ChaosKillSwitch, ChaosRun
from opsportal.accounts.roles import AUDITOR, CHAOS_OPERATOR, OPERATOR, SUPPORT
from opsportal.api.errors import Conflict
from opsportal.catalog.models import Service

SCOPES = {"read": "read", "write": "chaos:write"}
ROLES = {"read": {CHAOS_OPERATOR, OPERATOR, SUPPORT, AUDITOR}, "write": {CHAOS_OPERATOR}}
SOURCE = "api"


def _call(fn, **kwargs):
    try:
        return fn(**kwargs)
    except services.ChaosPermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc)) from exc
    except services.ChaosError as exc:  # refused by a guardrail or not in a state this applies to
        raise Conflict(str(exc)) from exc


class DrillSerializer(serializers.ModelSerializer):
    scenario = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    service = serializers.SlugRelatedField(slug_field="name", queryset=Service.objects.all(), allow_null=True, required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    parameters = serializers.JSONField(required=False)
    targets = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=20)
    schedule = serializers.JSONField(required=False)
    stop_conditions = serializers.JSONField(required=False)
    steady_state = serializers.JSONField(required=False)
    next_slot = serializers.SerializerMethodField()

    class Meta:
        model = ChaosDrill
        fields = ["id", "name", "scenario", "parameters", "targets", "service", "duration_seconds", "blast_radius",
                  "schedule", "starting_deadline_seconds", "stop_conditions", "steady_state", "dry_run", "state",
                  "created_by", "approved_by", "approved_at", "next_slot", "created_at", "updated_at"]
        read_only_fields = ["state", "approved_at", "created_at", "updated_at"]

    def get_next_slot(self, obj) -> str | None:
        slot = selectors.drill_next_slot(obj)
        return slot.isoformat() if slot else None


class DrillCreateSerializer(DrillSerializer):
    scenario = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class JournalSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChaosJournalEntry
        fields = ["id", "at", "kind", "message", "data"]


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChaosRun
        fields = ["id", "drill", "slot", "state", "verdict", "score", "reason", "dry_run", "started_at", "ended_at",
                  "invariants", "runner"]


class RunDetailSerializer(RunSerializer):
    journal = JournalSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "journal"]


class DrillViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    token_scopes, roles = SCOPES, ROLES
    queryset = ChaosDrill.objects.select_related("scenario", "service", "created_by", "approved_by").order_by("-id")
    serializer_class = DrillSerializer
    filterset_fields = ["state"]

    def create(self, request):
        data = DrillCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        drill = _call(services.drill_create, actor=Actor.from_request(request), source=SOURCE,
                      scenario=fields.pop("scenario"), name=fields.pop("name", "") or "", **fields)
        return Response(DrillSerializer(drill).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        drill = self.get_object()
        data = DrillSerializer(drill, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        drill = _call(services.drill_update, drill_id=drill.pk, actor=Actor.from_request(request), source=SOURCE,
                      **data.validated_data)
        return Response(DrillSerializer(drill).data)

    def destroy(self, request, pk=None):
        """Drills are never deleted: DELETE cancels (the record and its runs stay)."""
        drill = self.get_object()
        drill = _call(services.drill_cancel, drill_id=drill.pk, actor=Actor.from_request(request), source=SOURCE,
                      reason=str(request.data.get("reason", ""))[:2000] if hasattr(request.data, "get") else "")
        return Response(DrillSerializer(drill).data)

    def _act(self, request, fn, **kwargs):
        drill = self.get_object()
        drill = _call(fn, drill_id=drill.pk, actor=Actor.from_request(request), source=SOURCE, **kwargs)
        return Response(DrillSerializer(drill).data)

    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._act(request, services.drill_submit)

    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """A different chaos operator (a person, not a token) approves."""
        return self._act(request, services.drill_approve)

    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        return self._act(request, services.drill_schedule)

    @action(detail=True, methods=["post"])
    def halt(self, request, pk=None):
        drill = self.get_object()
        run = ChaosRun.objects.filter(drill=drill, state__in=ChaosRun.ACTIVE_STATES).first()
        if run is None:
            raise Conflict("this drill has no running run")
        reason = str(request.data.get("reason", "") if hasattr(request.data, "get") else "")[:2000]
        run = _call(services.run_halt, run_id=run.pk, reason=reason or "halted through the API",
                    actor=Actor.from_request(request), source=SOURCE)
        return Response(RunSerializer(run).data)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    token_scopes, roles = SCOPES, ROLES
    queryset = ChaosRun.objects.order_by("-id")
    filterset_fields = ["drill", "state", "verdict"]

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer


class KillSwitchSerializer(serializers.ModelSerializer):
    engaged = serializers.BooleanField(source="active")

    class Meta:
        model = ChaosKillSwitch
        fields = ["engaged", "engaged_by", "reason", "engaged_at", "released_by", "released_at"]


class KillSwitchView(APIView):
    """GET the state; POST {"reason"} engages (halts running drills); DELETE releases."""

    token_scopes, roles = SCOPES, ROLES
    serializer_class = KillSwitchSerializer

    def get(self, request):
        switch = selectors.kill_switch_current()
        return Response(KillSwitchSerializer(switch).data if switch else {"engaged": False})

    def post(self, request):
        reason = str(request.data.get("reason", "") if hasattr(request.data, "get") else "")[:2000]
        with transaction.atomic():
            switch = _call(services.kill_switch_engage, reason=reason, actor=Actor.from_request(request), source=SOURCE)
        body = KillSwitchSerializer(switch).data
        body["halted_runs"] = getattr(switch, "halted_runs", [])
        return Response(body, status=status.HTTP_200_OK)

    def delete(self, request):
        switch = _call(services.kill_switch_release, actor=Actor.from_request(request), source=SOURCE)
        return Response(KillSwitchSerializer(switch).data)
