"""Reads of the dead-letter queue: the filter every interface shares, lists, depth.

One ``DlqFilter`` describes "which items" for the admin's list filters, the
API's query string and bulk body, the CLI's options and the services, so the
same words select the same rows everywhere.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from opsportal.common.text import has_nul
from reliability.webhooks.classes import FailureClass
from reliability.webhooks.models import PORTAL_PROVIDER, WebhookFailure

_GROUP_RE = re.compile(r"[0-9a-f]{16}")

DEFAULT_ALERT_THRESHOLD = 100
MAX_EVENT_TYPE_LENGTH = 255
MAX_ERROR_CONTAINS_LENGTH = 500


class DlqFilterError(ValueError):
    """A filter value that cannot select anything meaningful; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class DlqFilter:
    """Which DLQ items. Empty fields select everything; they combine with AND.

    - ``source``: the source's slug (``portal`` for outbound portal events);
    - ``destination``: the destination's id or name;
    - ``event_type``: exact, or a prefix pattern ending in ``*`` (``charge.*``);
    - ``error_contains``: case-insensitive substring of the error message;
    - ``created_since`` / ``created_until``: when the item first entered the DLQ;
    - ``failure_class``: one class (``destination_down`` …) or several, comma-separated;
    - ``group``: a group signature (one "issue": destination + class + status + normalised error).
    """

    source: str | None = None
    destination: str | None = None
    event_type: str | None = None
    error_contains: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    failure_class: str | None = None
    group: str | None = None

    @classmethod
    def of(cls, value: DlqFilter | dict | None) -> DlqFilter:
        if value is None:
            return cls()
        if isinstance(value, DlqFilter):
            return value
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise DlqFilterError(sorted(unknown)[0], "not a DLQ filter")
        cleaned = {k: v for k, v in value.items() if v not in (None, "")}
        if "destination" in cleaned:
            cleaned["destination"] = str(cleaned["destination"])
        return cls(**cleaned)

    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def as_dict(self) -> dict:
        """For audit entries and events: only the fields given, instants as ISO text."""
        out = {}
        for key, value in asdict(self).items():
            if value in (None, ""):
                continue
            out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out

    def validate(self) -> None:
        if self.event_type is not None:
            if len(self.event_type) > MAX_EVENT_TYPE_LENGTH:
                raise DlqFilterError("event_type", f"at most {MAX_EVENT_TYPE_LENGTH} characters")
            if "*" in self.event_type[:-1]:
                raise DlqFilterError("event_type", "only a trailing '*' wildcard is supported (charge.*)")
        if self.error_contains is not None and len(self.error_contains) > MAX_ERROR_CONTAINS_LENGTH:
            raise DlqFilterError("error_contains", f"at most {MAX_ERROR_CONTAINS_LENGTH} characters")
        if self.failure_class is not None:
            bad = [c for c in self.classes() if c not in FailureClass.values]
            if bad or not self.classes():
                raise DlqFilterError("failure_class", f"not a failure class: {', '.join(bad) or '(empty)'} "
                                     f"(one of {', '.join(FailureClass.values)})")
        if self.group is not None and not _GROUP_RE.fullmatch(str(self.group)):
            raise DlqFilterError("group", "a group signature is 16 hex digits")
        for key in ("source", "destination", "event_type", "error_contains", "failure_class", "group"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or has_nul(value)):
                raise DlqFilterError(key, "must be plain text")
        if self.created_since and self.created_until and self.created_since > self.created_until:
            raise DlqFilterError("created_since", "must not be after created_until")

    def q(self) -> Q:
        self.validate()
        q = Q()
        if self.source:
            q &= Q(source__isnull=True, provider=PORTAL_PROVIDER) if self.source == PORTAL_PROVIDER else Q(source__slug=self.source)
        if self.destination:
            q &= Q(destination_id=int(self.destination)) if _is_id(self.destination) else Q(destination__name=self.destination)
        if self.event_type:
            q &= Q(event_type__startswith=self.event_type[:-1]) if self.event_type.endswith("*") else Q(event_type=self.event_type)
        if self.error_contains:
            q &= Q(error_message__icontains=self.error_contains)
        if self.created_since:
            q &= Q(created_at__gte=self.created_since)
        if self.created_until:
            q &= Q(created_at__lte=self.created_until)
        if self.failure_class:
            q &= Q(failure_class__in=self.classes())
        if self.group:
            q &= Q(group_signature=self.group)
        return q

    def classes(self) -> list[str]:
        return [c.strip() for c in str(self.failure_class or "").split(",") if c.strip()]


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 18  # a bigint, not a name


def _since_q(since: datetime) -> Q:
    """Items that entered — or, after a failed replay, re-entered — the DLQ at or after ``since``.

    A replay is one immediate attempt, so an item reopened by it re-entered the
    queue right after ``last_retry_at``.
    """
    return Q(created_at__gte=since) | Q(last_retry_at__gte=since)


def dlq_open() -> QuerySet[WebhookFailure]:
    return WebhookFailure.objects.filter(resolution=WebhookFailure.Resolution.OPEN)


def dlq_matching(*, failure_ids=None, filters: DlqFilter | dict | None = None, since: datetime | None = None,
                 open_only: bool = True) -> QuerySet[WebhookFailure]:
    """The items a retry/discard with these arguments would act on (oldest first)."""
    qs = dlq_open() if open_only else WebhookFailure.objects.all()
    if failure_ids is not None:
        qs = qs.filter(pk__in=list(failure_ids))
    qs = qs.filter(DlqFilter.of(filters).q())
    if since is not None:
        qs = qs.filter(_since_q(since))
    return qs.order_by("id")


def dlq_list(*, filters: DlqFilter | dict | None = None, resolution: str | None = WebhookFailure.Resolution.OPEN) -> QuerySet[WebhookFailure]:
    """Newest first, with what the lists show (source, destination, delivery) in the same query."""
    qs = WebhookFailure.objects.filter(DlqFilter.of(filters).q())
    if resolution:
        qs = qs.filter(resolution=resolution)
    return qs.select_related("source", "destination", "delivery", "delivery__event").defer("payload", "delivery__event__body").order_by("-id")


def dlq_get(*, failure_id: int) -> WebhookFailure | None:
    return WebhookFailure.objects.select_related("source", "destination", "delivery", "delivery__event").filter(pk=failure_id).first()


def dlq_depth() -> int:
    """Open items: one COUNT on the (resolution, created_at) index."""
    return dlq_open().count()


def alert_threshold() -> int:
    """The open depth above which the DLQ alarm fires (``DLQ_ALERT_THRESHOLD``)."""
    return int(getattr(settings, "DLQ_ALERT_THRESHOLD", DEFAULT_ALERT_THRESHOLD))


def dlq_depth_by_class() -> dict[str, int]:
    """Open items per failure class (``dlq_messages_total{class}``)."""
    rows = dlq_open().values("failure_class").annotate(n=Count("id")).order_by()
    return {row["failure_class"]: row["n"] for row in rows}
