"""GET /api/v1/reports/reliability/?period=… (JSON), and the same as CSV.

CSV by DRF's own conventions: ``?format=csv`` (``URL_FORMAT_OVERRIDE``), ``Accept: text/csv``,
or the suffix form ``/api/v1/reports/reliability.csv?period=…``. Errors are problem+json
whatever was asked for. Token scope ``read``; people need one of the portal roles.
"""

from __future__ import annotations

import csv
import io

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.reports.periods import FORMS, PeriodError, parse_period
from reliability.reports.selectors import CSV_HEADER, reliability_report, report_csv_rows


class ReliabilityCSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(report_csv_rows(data))
        return out.getvalue().encode("utf-8")


class ReliabilityReportView(APIView):
    """The reliability report of a period (``period``: 7d, 30d, month:YYYY-MM, quarter:YYYY-Qn, week:YYYY-Www)."""

    renderer_classes = [renderers.JSONRenderer, ReliabilityCSVRenderer]
    token_scopes = {"read": "read"}

    @extend_schema(
        operation_id="v1_reports_reliability",
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, description=f"default 30d; {FORMS}"),
                    OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"])],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="the report (or CSV with ?format=csv)"),
                   400: OpenApiResponse(description="problem+json: the period cannot be read")},
    )
    def get(self, request, *args, **kwargs):
        now = timezone.now()
        try:
            period = parse_period(request.query_params.get("period"), now=now)
        except PeriodError as exc:
            raise exceptions.ValidationError({"period": [str(exc)]}) from exc
        report = reliability_report(period, now=now)
        response = Response(report)
        if getattr(request, "accepted_renderer", None) and request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = f'attachment; filename="reliability-{period.label.replace(":", "-")}.csv"'
        return response


class ReliabilityReportCSVView(ReliabilityReportView):
    """``/api/v1/reports/reliability.csv``: the same report, always CSV (its own OpenAPI operation)."""

    @extend_schema(
        operation_id="v1_reports_reliability_csv",
        parameters=[OpenApiParameter("period", OpenApiTypes.STR, description=f"default 30d; {FORMS}")],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="section,service,item,metric,value"),
                   400: OpenApiResponse(description="problem+json: the period cannot be read")},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


reliability_report_view = ReliabilityReportView.as_view()
reliability_report_csv_view = ReliabilityReportCSVView.as_view()
