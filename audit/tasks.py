"""Scheduled anchoring of the audit chain (docs/audit.md "Verifying").

``audit.anchor_chain`` (CELERY_BEAT_SCHEDULE, hourly) does what an operator would do with
``manage.py audit_verify --anchor <last head>``: it verifies the chain against the newest
anchor written so far and, if the chain is intact, appends the new head to
``settings.AUDIT_ANCHOR_FILE`` (one JSON line per run) and logs it (``audit.chain_anchored``),
so heads exist outside the database and a later rewrite of the chain is caught.
A broken chain, or a missing anchor, is logged as an error (``audit.chain_broken``) and no
new anchor is written: the last good one stays the one to check against.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import structlog
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit.selectors import audit_chain_verify

log = structlog.get_logger(__name__)


def anchor_path() -> Path:
    return Path(settings.AUDIT_ANCHOR_FILE)


def last_anchor(path: Path | None = None) -> str | None:
    """The head hash of the newest line in the anchor file (None if there is none yet)."""
    path = path or anchor_path()
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4096))
            lines = [line for line in fh.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    if not lines:
        return None
    try:
        return str(json.loads(lines[-1])["head"])
    except (ValueError, KeyError, TypeError):
        return None


@shared_task(name="audit.anchor_chain", ignore_result=True, expires=1800)
def anchor_chain() -> dict:
    path = anchor_path()
    previous = last_anchor(path)
    report = audit_chain_verify(anchor=previous)
    if report.broken is not None:
        log.error("audit.chain_broken", entry_id=report.broken.entry_id, problem=report.broken.problem,
                  anchor=previous, source="audit.anchor_chain")
        return {"ok": False, "entry_id": report.broken.entry_id, "problem": report.broken.problem}
    line = {"at": timezone.now().isoformat(), "entries": report.checked, "head": report.head_hash}
    if report.head_hash != previous:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="ascii") as fh:
            fh.write(json.dumps(line, sort_keys=True) + "\n")
    log.info("audit.chain_anchored", entries=report.checked, head=report.head_hash, previous=previous)
    return {"ok": True, **line}
