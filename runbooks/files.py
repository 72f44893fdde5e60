"""Runbooks as files: markdown with YAML front matter (``docs/runbooks/*.md``), read and written.

Importing validates every file first and imports nothing if one is bad, so a
directory is applied whole or not at all. Each file then goes through the
services: a new slug is created, a changed file adds a version, an unchanged
one does nothing (no audit entry, no event). Export writes exactly the format
import reads, so export → import is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.actors import Actor
from runbooks import services
from runbooks.matching import clean_matchers, in_order
from runbooks.models import Runbook

FRONT_MATTER_KEYS = ("title", "slug", "service", "owner", "severity", "status", "review_interval_days", "matchers")
MAX_FILE_BYTES = 512 * 1024


class RunbookFileError(Exception):
    """A file that cannot be imported; the message names the file and what is wrong."""


@dataclass
class ParsedRunbook:
    path: Path
    meta: dict
    body: str


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_text(text: str, *, name: str) -> ParsedRunbook:
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("---\n"):
        raise RunbookFileError(f"{name}: no YAML front matter (the file must start with a '---' line)")
    end = text.find("\n---\n", 3)
    if end == -1:
        raise RunbookFileError(f"{name}: the front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load(text[4:end + 1]) or {}
    except yaml.YAMLError as exc:
        raise RunbookFileError(f"{name}: invalid YAML front matter: {exc}") from exc
    if not isinstance(meta, dict):
        raise RunbookFileError(f"{name}: the front matter must be a mapping")
    unknown = sorted(set(meta) - set(FRONT_MATTER_KEYS))
    if unknown:
        raise RunbookFileError(f"{name}: unknown front matter key(s): {', '.join(map(str, unknown))}")
    body = text[end + len("\n---\n"):]
    meta.setdefault("slug", Path(name).stem)
    if not isinstance(meta.get("title"), str) or not meta["title"].strip():
        raise RunbookFileError(f"{name}: the front matter needs a title")
    for key in ("slug", "service", "owner", "severity", "status"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise RunbookFileError(f"{name}: {key} must be a string")
    if meta.get("status") not in (None, *Runbook.Status.values):
        raise RunbookFileError(f"{name}: status must be one of {', '.join(Runbook.Status.values)}")
    if meta.get("severity") not in (None, *Runbook.Severity.values):
        raise RunbookFileError(f"{name}: severity must be one of {', '.join(Runbook.Severity.values)}")
    interval = meta.get("review_interval_days")
    if interval is not None and (not isinstance(interval, int) or isinstance(interval, bool) or not 1 <= interval <= 3650):
        raise RunbookFileError(f"{name}: review_interval_days must be a whole number of days (1-3650)")
    try:
        meta["matchers"] = clean_matchers(meta.get("matchers"))
        body = services.validate_body(body)
    except ValidationError as exc:
        messages = exc.message_dict.get("body", exc.messages) if hasattr(exc, "error_dict") else exc.messages
        raise RunbookFileError(f"{name}: {'; '.join(messages)}") from exc
    return ParsedRunbook(path=Path(name), meta=meta, body=body)


def parse_directory(directory: Path) -> list[ParsedRunbook]:
    directory = Path(directory)
    if not directory.is_dir():
        raise RunbookFileError(f"{directory}: not a directory")
    parsed, errors, slugs = [], [], {}
    for path in sorted(directory.glob("*.md")):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise RunbookFileError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
            item = parse_text(path.read_text(encoding="utf-8"), name=path.name)
        except (RunbookFileError, UnicodeDecodeError) as exc:
            errors.append(str(exc) if isinstance(exc, RunbookFileError) else f"{path.name}: not UTF-8 text")
            continue
        if item.meta["slug"] in slugs:
            errors.append(f"{path.name}: slug {item.meta['slug']!r} is also used by {slugs[item.meta['slug']]}")
            continue
        slugs[item.meta["slug"]] = path.name
        parsed.append(item)
    if errors:
        raise RunbookFileError("\n".join(errors))
    return parsed


def _service(name: str | None, *, actor: Actor):
    if not name:
        return None
    from opsportal.catalog.services import service_get_or_create

    return service_get_or_create(name=name, actor=actor, source="cli")


@transaction.atomic
def import_directory(directory: Path, *, actor: Actor, source: str = "cli") -> ImportReport:
    """Apply every ``*.md`` in ``directory``; raises RunbookFileError (nothing imported) if one is bad."""
    report = ImportReport()
    users = get_user_model().objects
    for item in parse_directory(directory):
        meta, slug = item.meta, item.meta["slug"]
        owner = None
        if meta.get("owner"):
            owner = users.filter(username=meta["owner"]).first()
            if owner is None:
                report.warnings.append(f"{item.path.name}: owner {meta['owner']!r} is not a user; left empty")
        fields = {
            "title": meta["title"].strip(),
            "service": _service(meta.get("service"), actor=actor),
            "owner": owner,
            "matchers": meta["matchers"],
            **{k: meta[k] for k in ("severity", "status", "review_interval_days") if meta.get(k) is not None},
        }
        existing = Runbook.objects.filter(slug=slug).select_related("current_version").first()
        try:
            if existing is None:
                fields.setdefault("status", Runbook.Status.PUBLISHED)
                services.runbook_create(slug=slug, body=item.body, actor=actor, source=source,
                                        change_note=f"imported from {item.path.name}", **fields)
                report.created.append(slug)
                continue
            before = services.runbook_snapshot(existing)
            updated = services.runbook_update(runbook_id=existing.pk, body=item.body, actor=actor, source=source,
                                              change_note=f"imported from {item.path.name}", **fields)
        except ValidationError as exc:
            raise RunbookFileError(f"{item.path.name}: {'; '.join(exc.messages)}") from exc
        (report.updated if services.runbook_snapshot(updated) != before else report.unchanged).append(slug)
    return report


def export_text(runbook: Runbook) -> str:
    meta = {
        "title": runbook.title,
        "slug": runbook.slug,
        "service": runbook.service.name if runbook.service_id else None,
        "owner": runbook.owner.get_username() if runbook.owner_id else None,
        "severity": runbook.severity,
        "status": runbook.status,
        "review_interval_days": runbook.review_interval_days,
        "matchers": in_order(runbook.matchers),
    }
    meta = {k: v for k, v in meta.items() if v not in (None, "")}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
    return f"---\n{front}---\n{runbook.body}"


def export_directory(directory: Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for runbook in Runbook.objects.select_related("service", "owner", "current_version").order_by("slug"):
        path = directory / f"{runbook.slug}.md"
        path.write_text(export_text(runbook), encoding="utf-8")
        written.append(path)
    return written
