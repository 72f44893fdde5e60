"""/api/v1/degradation/: read the level; an operator overrides or clears it (DESIGN §6)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.actors import Actor
from opsportal.accounts.roles import OPERATOR
from opsportal.api.errors import Conflict
from opsportal.api.permissions import READ_ROLES
from reliability.health.degradation.levels import Level
from reliability.health.degradation.selectors import degradation_state
from reliability.health.degradation.services import (
    NoActiveOverride,
    degradation_override_clear,
    degradation_override_set,
)

# People: operators write. Tokens: only `admin` (no integration may pin the portal's level).
TOKEN_SCOPES = {"read": "read", "write": "admin"}
ROLES = {"read": READ_ROLES, "write": {OPERATOR}}


@extend_schema_field({"oneOf": [{"type": "string", "enum": [level.name for level in Level]},
                                {"type": "integer", "minimum": 0, "maximum": 4}]})
class LevelField(serializers.Field):
    default_error_messages = {"invalid": "one of NORMAL, MINOR, MODERATE, SEVERE, CRITICAL (or 0–4)"}

    def to_internal_value(self, data):
        try:
            return Level.parse(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return Level(value).name


class OverrideSerializer(serializers.Serializer):
    level = LevelField()
    reason = serializers.CharField(max_length=2000, allow_blank=False, trim_whitespace=True)
    expires_at = serializers.DateTimeField()


class ClearSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=True)


def _validation(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class DegradationView(APIView):
    """GET the state; POST ``{level, reason, expires_at}`` to override; DELETE to clear."""

    token_scopes = TOKEN_SCOPES
    roles = ROLES

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="The degradation level, computed level and override")
    def get(self, request):
        return Response(degradation_state())

    @extend_schema(request=OverrideSerializer, responses={201: OpenApiTypes.OBJECT}, summary="Override the level")
    def post(self, request):
        body = OverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            degradation_override_set(**body.validated_data, actor=Actor.from_request(request), source="api")
        except DjangoValidationError as exc:
            raise _validation(exc) from exc
        return Response(degradation_state(), status=status.HTTP_201_CREATED)

    @extend_schema(request=ClearSerializer, responses=OpenApiTypes.OBJECT, summary="Clear the override")
    def delete(self, request):
        return _clear(request)


class DegradationClearView(APIView):
    """POST ``{reason}``: the same as DELETE /api/v1/degradation/ (for clients that cannot send DELETE)."""

    token_scopes = TOKEN_SCOPES
    roles = ROLES

    @extend_schema(request=ClearSerializer, responses=OpenApiTypes.OBJECT, summary="Clear the override")
    def post(self, request):
        return _clear(request)


def _clear(request):
    body = ClearSerializer(data=request.data if isinstance(request.data, dict) else {})
    body.is_valid(raise_exception=True)
    try:
        degradation_override_clear(actor=Actor.from_request(request), source="api",
                                   reason=body.validated_data.get("reason", ""))
    except NoActiveOverride as exc:
        raise Conflict(str(exc)) from exc
    return Response(degradation_state())
