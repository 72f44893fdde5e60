"""The only code that changes runbooks: each call writes the rows, one audit entry and one outbox event."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.actors import Actor
from audit.services import audit_record, diff
from opsportal.events.services import emit
from runbooks.matching import clean_matchers
from runbooks.models import Runbook, RunbookVersion
from runbooks.names import Action, Event
from runbooks.rendering import missing_sections

# Fields an update may change besides the body; the status has its own services too.
META_FIELDS = ("title", "service", "owner", "severity", "status", "review_interval_days", "matchers")
MAX_BODY = 200_000
RESERVED_SLUGS = {"new", "match"}


def validate_body(body: Any) -> str:
    """The body as stored; ValidationError on the ``body`` field naming every missing section."""
    if not isinstance(body, str) or not body.strip():
        raise ValidationError({"body": ["a runbook needs a body"]})
    if len(body) > MAX_BODY:
        raise ValidationError({"body": [f"a runbook body is at most {MAX_BODY} characters"]})
    missing = missing_sections(body)
    if missing:
        raise ValidationError({"body": [f"missing required section(s): {', '.join(missing)}"]})
    return body.replace("\r\n", "\n").replace("\x00", "")


def _clean_matchers(matchers: Any) -> list[dict]:
    try:
        return clean_matchers(matchers)
    except ValidationError as exc:
        raise ValidationError({"matchers": exc.messages}) from exc


def runbook_snapshot(runbook: Runbook) -> dict:
    return {
        "title": runbook.title,
        "slug": runbook.slug,
        "service": runbook.service.name if runbook.service_id else None,
        "owner": runbook.owner.get_username() if runbook.owner_id else None,
        "severity": runbook.severity,
        "status": runbook.status,
        "review_interval_days": runbook.review_interval_days,
        "matchers": runbook.matchers,
        "version": runbook.current_version.number if runbook.current_version_id else None,
    }


def _add_version(runbook: Runbook, *, body: str, actor: Actor, change_note: str) -> RunbookVersion:
    last = runbook.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = RunbookVersion(
        runbook=runbook, number=last + 1, body=body, author=actor.user, author_label=actor.label[:200],
        change_note=(change_note or "")[:500], created_at=timezone.now(),
    )
    version.save(force_insert=True)
    runbook.current_version = version
    return version


def _event_data(runbook: Runbook, **extra) -> dict:
    return {"slug": runbook.slug, "title": runbook.title, "status": runbook.status,
            "version": runbook.current_version.number if runbook.current_version_id else None, **extra}


@transaction.atomic
def runbook_create(
    *, title: str, body: str, actor: Actor, source: str, slug: str = "", service=None, owner=None,
    severity: str = Runbook.Severity.P2, status: str = Runbook.Status.DRAFT, review_interval_days: int = 90,
    matchers: list | None = None, change_note: str = "",
) -> Runbook:
    """A runbook and its version 1."""
    runbook = Runbook(
        title=title, slug=slug or slugify(title)[:100], service=service, owner=owner, severity=severity,
        status=status, review_interval_days=review_interval_days, matchers=_clean_matchers(matchers),
    )
    if runbook.slug in RESERVED_SLUGS:
        raise ValidationError({"slug": [f"{runbook.slug!r} is reserved by the portal's URLs"]})
    body = validate_body(body)
    runbook.full_clean(exclude=["current_version"], validate_unique=False)
    try:
        with transaction.atomic():
            runbook.save(force_insert=True)
    except IntegrityError as exc:
        raise ValidationError({"slug": [f"a runbook with slug {runbook.slug!r} already exists"]}) from exc
    _add_version(runbook, body=body, actor=actor, change_note=change_note or "created")
    runbook.save(update_fields=["current_version"])
    audit_record(actor=actor, action=Action.CREATE, target=runbook, changes=diff({}, runbook_snapshot(runbook)), source=source)
    emit(Event.CREATED, runbook, _event_data(runbook))
    return runbook


@transaction.atomic
def runbook_update(
    *, runbook_id: int, actor: Actor, source: str, body: str | None = None, change_note: str = "", **fields,
) -> Runbook:
    """Change a runbook; a changed body adds a version (earlier ones stay as they were). No change, no entry."""
    unknown = set(fields) - set(META_FIELDS)
    if unknown:
        raise ValidationError({f: ["not editable"] for f in sorted(unknown)})
    runbook = Runbook.objects.select_for_update(of=("self",)).select_related("current_version", "service", "owner").get(pk=runbook_id)
    before = runbook_snapshot(runbook)
    if "matchers" in fields:
        fields["matchers"] = _clean_matchers(fields["matchers"])
    for key, value in fields.items():
        setattr(runbook, key, value)
    runbook.full_clean(exclude=["current_version"], validate_unique=False)
    new_body = None
    if body is not None:
        body = validate_body(body)
        if body != runbook.body:
            new_body = body
    if new_body is not None:
        _add_version(runbook, body=new_body, actor=actor, change_note=change_note)
    changes = diff(before, runbook_snapshot(runbook))
    if not changes:
        return runbook
    runbook.save()
    audit_record(actor=actor, action=Action.UPDATE, target=runbook, changes=changes, reason=change_note, source=source)
    emit(Event.UPDATED, runbook, _event_data(runbook, changed=sorted(changes)))
    return runbook


def _set_status(*, runbook_id: int, status: str, action: Action, event: Event, actor: Actor, source: str, reason: str) -> Runbook:
    runbook = Runbook.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=runbook_id)
    if runbook.status == status:
        return runbook
    before = runbook.status
    runbook.status = status
    runbook.save(update_fields=["status", "updated_at"])
    audit_record(actor=actor, action=action, target=runbook, changes={"status": [before, status]}, reason=reason, source=source)
    emit(event, runbook, _event_data(runbook))
    return runbook


@transaction.atomic
def runbook_publish(*, runbook_id: int, actor: Actor, source: str, reason: str = "") -> Runbook:
    return _set_status(runbook_id=runbook_id, status=Runbook.Status.PUBLISHED, action=Action.PUBLISH,
                       event=Event.PUBLISHED, actor=actor, source=source, reason=reason)


@transaction.atomic
def runbook_archive(*, runbook_id: int, actor: Actor, source: str, reason: str = "") -> Runbook:
    return _set_status(runbook_id=runbook_id, status=Runbook.Status.ARCHIVED, action=Action.ARCHIVE,
                       event=Event.ARCHIVED, actor=actor, source=source, reason=reason)


@transaction.atomic
def runbook_mark_reviewed(*, runbook_id: int, actor: Actor, source: str, note: str = "") -> Runbook:
    """Record a review now: the next one falls due ``review_interval_days`` later."""
    runbook = Runbook.objects.select_for_update(of=("self",)).select_related("current_version").get(pk=runbook_id)
    before = runbook.last_reviewed_at
    runbook.last_reviewed_at = timezone.now()
    runbook.last_reviewed_by = actor.user
    runbook.save(update_fields=["last_reviewed_at", "last_reviewed_by", "updated_at"])
    audit_record(
        actor=actor, action=Action.REVIEW, target=runbook, reason=note[:2000], source=source,
        changes={"last_reviewed_at": [before.isoformat() if before else None, runbook.last_reviewed_at.isoformat()]},
    )
    emit(Event.REVIEWED, runbook, _event_data(runbook, reviewed_at=runbook.last_reviewed_at.isoformat()))
    return runbook
