"""Which requests are shed when (docs/health.md, "Load shedding and rate limits").

Classes, from shed first to shed last:

- ``non_critical`` — exports, reports, heavy lists: 503 + Retry-After at SEVERE and above.
- ``standard`` — the rest of the API and pages: never shed by level; rate limits tighten.
- ``operator`` — what operators need to fix things (admin, /ops/, the degradation override,
  sign-in, static files, /metrics): never shed by level; rate limited like ``standard``.
- ``intake`` — webhook ingestion, alert intake, health: no rate limit; shed only at
  CRITICAL and only beyond the per-process concurrency cap ``SHED_INTAKE_MAX_CONCURRENCY``.
"""

from __future__ import annotations

import re

INTAKE = "intake"
OPERATOR = "operator"
NON_CRITICAL = "non_critical"
STANDARD = "standard"

INTAKE_PREFIXES = ("/api/v1/webhooks/in/", "/api/v1/alerts/", "/health/")
OPERATOR_PREFIXES = ("/admin/", "/ops/", "/ws/", "/login/", "/logout/", "/static/", "/metrics",
                     "/api/v1/degradation/")
# (pattern, why it is non-critical). Matched against the path; the first match wins.
NON_CRITICAL_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\.csv$"), "CSV exports (audit trail, reports)"),
    (re.compile(r"^/api/v1/audit/export"), "audit export"),
    (re.compile(r"^/api/v1/reports/"), "reliability reports"),
    (re.compile(r"^/api/v1/audit/$"), "the audit trail list (heavy, filterable over months)"),
    (re.compile(r"^/api/v1/webhooks/(events|deliveries)/"), "webhook traffic lists"),
    (re.compile(r"^/api/(schema|docs)/"), "OpenAPI schema and docs"),
    (re.compile(r"^/admin/audit/auditentry/export"), "admin audit export"),
)


def classify(path: str, _intake=INTAKE_PREFIXES) -> str:
    if path.startswith(_intake):
        return INTAKE
    for pattern, _why in NON_CRITICAL_PATTERNS:
        if pattern.search(path):
            return NON_CRITICAL
    if path.startswith(OPERATOR_PREFIXES):
        return OPERATOR
    return STANDARD
