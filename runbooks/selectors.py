"""Reads: the list with search and filters, review flags, matching to alert labels, the checklist seam."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from runbooks.matching import matches, specificity
from runbooks.models import Runbook, RunbookVersion
from runbooks.rendering import resolution_steps

DUE_SOON_DAYS = 14


def _base() -> QuerySet[Runbook]:
    return Runbook.objects.select_related("service", "owner", "current_version", "last_reviewed_by")


def runbook_get(*, slug: str) -> Runbook | None:
    return _base().filter(slug=slug).first()


def review_state(runbook: Runbook, *, now: datetime | None = None) -> str:
    """``overdue`` once the review interval has passed, ``due-soon`` in the last DUE_SOON_DAYS, else ``ok``.

    Archived runbooks are never due.
    """
    if runbook.status == Runbook.Status.ARCHIVED:
        return "ok"
    now = now or timezone.now()
    due = runbook.review_due_at()
    if due <= now:
        return "overdue"
    if due - now <= timedelta(days=min(DUE_SOON_DAYS, runbook.review_interval_days)):
        return "due-soon"
    return "ok"


def is_overdue(runbook: Runbook, *, now: datetime | None = None) -> bool:
    return review_state(runbook, now=now) == "overdue"


def _search(qs: QuerySet[Runbook], text: str) -> QuerySet[Runbook]:
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = (
            SearchVector("title", weight="A", config="english")
            + SearchVector("service__name", weight="A", config="english")
            + SearchVector("current_version__body", weight="B", config="english")
        )
        query = SearchQuery(text, search_type="websearch", config="english")
        return qs.annotate(rank=SearchRank(vector, query)).filter(rank__gt=0).order_by("-rank", "title")
    # SQLite (the embedded default): a plain substring match over the same fields.
    return qs.filter(
        Q(title__icontains=text) | Q(current_version__body__icontains=text) | Q(service__name__icontains=text)
    )


@dataclass(frozen=True)
class RunbookRow:
    runbook: Runbook
    review: str  # ok | due-soon | overdue


def runbook_list(
    *, search: str = "", service: str = "", status: str = "", overdue: bool | None = None,
    now: datetime | None = None, limit: int = 500,
) -> list[RunbookRow]:
    """The /ops/runbooks/ rows, one query (the review flag is computed from the row, not fetched).

    The overdue filter runs on the fetched rows: it depends on ``now`` and the
    per-row interval, and a runbook catalogue is hundreds of rows, not millions.
    """
    qs = _base().defer("current_version__body")
    if service:
        qs = qs.filter(service__name=service)
    if status:
        qs = qs.filter(status=status)
    text = (search or "").strip()[:200]
    if text:
        qs = _search(qs, text)
    rows = [RunbookRow(rb, review_state(rb, now=now)) for rb in qs[:limit]]
    if overdue is not None:
        rows = [row for row in rows if (row.review == "overdue") == overdue]
    return rows


def runbooks_overdue(*, now: datetime | None = None, limit: int = 20) -> list[RunbookRow]:
    """Published and draft runbooks past their review date, the longest overdue first."""
    now = now or timezone.now()
    rows = [
        RunbookRow(rb, "overdue")
        for rb in _base().defer("current_version__body").exclude(status=Runbook.Status.ARCHIVED)
        if is_overdue(rb, now=now)
    ]
    rows.sort(key=lambda row: row.runbook.review_due_at())
    return rows[:limit]


def runbook_versions(runbook: Runbook) -> QuerySet[RunbookVersion]:
    return runbook.versions.select_related("author").defer("body").order_by("-number")


def runbook_version(runbook: Runbook, number: int) -> RunbookVersion | None:
    return runbook.versions.filter(number=number).first()


def runbooks_matching(labels: Mapping[str, str]) -> list[Runbook]:
    """Published runbooks whose matchers all hold for ``labels``, most specific first (then by title).

    The seam incidents call with an alert's (or an incident's merged) labels.
    """
    labels = {str(k): str(v) for k, v in (labels or {}).items()}
    found = [rb for rb in _base().filter(status=Runbook.Status.PUBLISHED).exclude(matchers=[]) if matches(rb.matchers, labels)]
    found.sort(key=lambda rb: (tuple(-n for n in specificity(rb.matchers)), rb.title, rb.pk))
    return found


def runbook_checklist(runbook: Runbook) -> list[str]:
    """The numbered steps of the current version's Resolution section (markdown each): the incident checklist."""
    return resolution_steps(runbook.body)


def runbook_url(runbook: Runbook, *, base: str = "") -> str:
    """The portal page of a runbook; absolute when ``base`` (or settings.OPSPORTAL_BASE_URL) is set.

    This is the value for an Alertmanager rule's ``runbook_url`` annotation.
    """
    base = (base or getattr(settings, "OPSPORTAL_BASE_URL", "") or "").rstrip("/")
    return base + reverse("runbooks-ops:detail", args=[runbook.slug])


def runbook_for_url(url: str) -> Runbook | None:
    """The runbook an alert's ``runbook_url`` annotation points at, if it is one of the portal's pages.

    Only the path counts (the host may be the proxy's); anything else is None.
    """
    if not url or len(url) > 2000:
        return None
    try:
        match = resolve(urlsplit(url).path or "/")
    except (Resolver404, ValueError):
        return None
    if match.namespace != "runbooks-ops" or "slug" not in match.kwargs:
        return None
    return runbook_get(slug=match.kwargs["slug"])
