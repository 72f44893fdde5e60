"""Read-only audit trail for auditors: list/detail and a streaming CSV export."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django import forms
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, viewsets
from rest_framework.negotiation import BaseContentNegotiation

from audit.actors import Actor
from audit.models import AuditEntry
from audit.selectors import audit_entries, audit_export_chunks, audit_search
from audit.services import audit_export_recorded
from opsportal.accounts.roles import AUDITOR
from opsportal.common.timebounds import FORMS_HELP, TimeBoundError, parse_time_bound

AUDIT_ROLES = {"read": {AUDITOR}, "write": set()}
AUDIT_SCOPES = {"read": "audit:read"}  # the `admin` scope implies it; `read` deliberately does not
EXPORT_FIELDS = [
    "id", "created_at", "actor_kind", "actor_label", "action", "target_type", "target_id", "target_repr",
    "changes", "reason", "source", "request_id", "ip", "user_agent", "prev_hash", "hash",
]
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = EXPORT_FIELDS


class _TimeBoundField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        try:
            return parse_time_bound(value)
        except TimeBoundError:
            raise forms.ValidationError(f"expected {FORMS_HELP}") from None


class _TimeBoundFilter(filters.Filter):
    field_class = _TimeBoundField


class AuditEntryFilter(filters.FilterSet):
    since = _TimeBoundFilter(field_name="created_at", lookup_expr="gte", label="created at or after: a duration back from now (1h, 2d), a date or a datetime")
    until = _TimeBoundFilter(field_name="created_at", lookup_expr="lt", label="created before (exclusive): a duration back from now, a date or a datetime")
    q = filters.CharFilter(method="search", label="words in actor, action, target, request id or reason")

    class Meta:
        model = AuditEntry
        fields = {
            "actor_label": ["exact"],
            "actor_kind": ["exact"],
            "actor_user_id": ["exact"],
            "actor_token_id": ["exact"],
            "action": ["exact", "startswith"],
            "target_type": ["exact"],
            "target_id": ["exact"],
            "source": ["exact"],
            "request_id": ["exact"],
        }

    def search(self, queryset, name, value):
        return audit_search(queryset, value)


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The hash-chained audit trail (auditors, or tokens with `audit:read`), newest first."""

    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    lookup_value_regex = r"\d+"
    roles = AUDIT_ROLES
    token_scopes = AUDIT_SCOPES

    def get_queryset(self):
        return audit_entries()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    elif hasattr(value, "isoformat"):
        text = value.isoformat()
    else:
        text = str(value)
    # Spreadsheets run cells starting with these as formulas (CSV injection).
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


class _Echo:
    def write(self, value):
        return value


def _csv_lines(entries: list[AuditEntry], writer) -> str:
    return "".join(writer.writerow([_cell(getattr(e, f)) for f in EXPORT_FIELDS]) for e in entries)


def _csv_sync(queryset: QuerySet[AuditEntry], before_id: int) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    for chunk in audit_export_chunks(queryset, before_id=before_id):
        yield _csv_lines(chunk, writer)


async def _csv_async(queryset: QuerySet[AuditEntry], before_id: int) -> AsyncIterator[str]:
    # Under ASGI a sync iterator would be read into memory whole; fetch chunk by chunk instead.
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_FIELDS)
    chunks = audit_export_chunks(queryset, before_id=before_id)
    while chunk := await sync_to_async(next)(chunks, None):
        yield _csv_lines(chunk, writer)


class _IgnoreAccept(BaseContentNegotiation):
    """`Accept: text/csv` must not 406: the body is CSV, errors are problem+json."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class AuditExportView(generics.GenericAPIView):
    """Stream the (filtered) audit trail as CSV, oldest first. The export itself is audited.

    Rows are everything matching the filters that precedes the export's own
    `audit.export` entry: a consistent snapshot even while others write.
    """

    filterset_class = AuditEntryFilter
    pagination_class = None
    content_negotiation_class = _IgnoreAccept
    roles = AUDIT_ROLES
    token_scopes = AUDIT_SCOPES

    def get_queryset(self):
        return audit_entries()

    @extend_schema(
        operation_id="v1_audit_export_csv",
        # drf-spectacular documents django-filter parameters on list views only.
        parameters=[
            OpenApiParameter(name, OpenApiTypes.STR, description=str(f.label or "")) for name, f in
            AuditEntryFilter.base_filters.items()
        ],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row")},
    )
    def get(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())  # 400 problem+json on bad filters
        used = {k: v for k, v in request.query_params.items() if k in AuditEntryFilter.base_filters and v}
        entry = audit_export_recorded(actor=Actor.from_request(request), filters=used, source="api")
        if isinstance(request._request, ASGIRequest):
            rows = _csv_async(queryset, entry.pk)
        else:
            rows = _csv_sync(queryset, entry.pk)
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


audit_export_csv = AuditExportView.as_view()
