"""/api/v1/runbooks/: CRUD by slug (DESIGN §6 field names) and GET match/?label=value…"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.actors import Actor
from opsportal.api.pagination import IdCursorPagination
from opsportal.catalog.models import Service
from runbooks import selectors, services
from runbooks.matching import clean_matchers, in_order
from runbooks.models import Runbook

RUNBOOK_SCOPES = {"read": "read", "write": "runbooks:write"}


@extend_schema_field({"type": "array", "items": {"type": "object", "required": ["label", "op", "value"], "properties": {
    "label": {"type": "string"}, "op": {"type": "string", "enum": ["=", "!=", "=~", "!~"]}, "value": {"type": "string"}}}})
class MatchersField(serializers.JSONField):
    pass


class RunbookSerializer(serializers.ModelSerializer):
    service = serializers.SlugRelatedField(slug_field="name", queryset=Service.objects.all(), allow_null=True, required=False)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=get_user_model().objects.all(),
                                         allow_null=True, required=False)
    body = serializers.CharField(trim_whitespace=False, help_text="Markdown with the five required sections.")
    matchers = MatchersField(required=False)
    status = serializers.ChoiceField(choices=Runbook.Status.choices, required=False)
    change_note = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500)
    version = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Runbook
        fields = ["slug", "title", "service", "body", "matchers", "status", "owner", "severity", "review_interval_days",
                  "version", "overdue", "review", "last_reviewed_at", "url", "change_note", "created_at", "updated_at"]
        read_only_fields = ["last_reviewed_at", "created_at", "updated_at"]
        extra_kwargs = {"slug": {"validators": [], "required": False}}  # uniqueness: the service (race-safe)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["body"] = instance.body
        data["matchers"] = in_order(instance.matchers)
        return data

    def get_version(self, obj) -> int | None:
        return obj.current_version.number if obj.current_version_id else None

    def get_overdue(self, obj) -> bool:
        return selectors.is_overdue(obj)

    def get_review(self, obj) -> str:
        """``ok`` | ``due-soon`` | ``overdue``."""
        return selectors.review_state(obj)

    def get_url(self, obj) -> str:
        """The readable page (also the value for an Alertmanager ``runbook_url`` annotation)."""
        request = self.context.get("request")
        path = selectors.runbook_url(obj)
        return request.build_absolute_uri(path) if request is not None else path

    def validate_body(self, value):
        try:
            return services.validate_body(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["body"]) from exc

    def validate_matchers(self, value):
        try:
            return clean_matchers(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class RunbookFilter(filters.FilterSet):
    service = filters.CharFilter(field_name="service__name")

    class Meta:
        model = Runbook
        fields = ["status", "severity", "service"]


class RunbookPagination(IdCursorPagination):
    ordering = "slug"


class RunbookViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet,
):
    """Runbooks: read with a `read` token or any portal role; write as an operator or with `runbooks:write`.

    Updating `body` adds a version (earlier versions are kept); DELETE archives
    the runbook (history is never destroyed).
    """

    serializer_class = RunbookSerializer
    filterset_class = RunbookFilter
    pagination_class = RunbookPagination
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    token_scopes = RUNBOOK_SCOPES

    def get_queryset(self):
        return Runbook.objects.select_related("service", "owner", "current_version")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        runbook = services.runbook_create(actor=Actor.from_request(request), source="api", **data)
        return Response(self.get_serializer(runbook).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("slug", instance.slug) != instance.slug:
            raise serializers.ValidationError({"slug": ["the slug is the runbook's address and cannot change"]})
        body, note = data.pop("body", None), data.pop("change_note", "")
        runbook = services.runbook_update(runbook_id=instance.pk, actor=Actor.from_request(request), source="api",
                                          body=body, change_note=note, **data)
        return Response(self.get_serializer(runbook).data)

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        services.runbook_archive(runbook_id=instance.pk, actor=Actor.from_request(request), source="api")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("label", OpenApiTypes.STR, description="Any number of `<label>=<value>` query "
                                     "parameters: the alert's labels, e.g. `?alertname=QueueOverload&env=prod`.")],
        responses=RunbookSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="match", pagination_class=None, filterset_class=None)
    def match(self, request):
        """Published runbooks whose matchers all hold for the given labels, most specific first."""
        labels = {key[:100]: value[:500] for key, value in request.query_params.items()}
        found = selectors.runbooks_matching(labels)
        return Response(self.get_serializer(found, many=True).data)
