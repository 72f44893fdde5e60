"""Scheduled anchoring of the audit chain (issue #8 item 10e)."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.db import connection, transaction

from audit.actors import Actor
from audit.models import AuditEntry
from audit.services import audit_record
from audit.tasks import anchor_chain, last_anchor

pytestmark = pytest.mark.django_db
SYSTEM = Actor.for_system("test")


@pytest.fixture
def anchor_file(settings, tmp_path):
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors" / "audit-anchors.jsonl")
    return tmp_path / "anchors" / "audit-anchors.jsonl"


def _poke(n: int = 1) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_record(actor=SYSTEM, action="test.poke", target=("thing", str(i)), source="test")


def test_the_anchor_task_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-anchor-chain"]
    assert entry["task"] == anchor_chain.name == "audit.anchor_chain"
    assert entry["schedule"] <= 24 * 3600


def test_each_run_verifies_against_the_last_anchor_and_appends_the_new_head(anchor_file):
    _poke(2)
    first = anchor_chain()
    assert first["ok"] and first["entries"] == AuditEntry.objects.count()
    head = AuditEntry.objects.order_by("-id").first().hash
    assert first["head"] == head == last_anchor(anchor_file)
    _poke(1)
    second = anchor_chain()
    assert second["ok"] and second["head"] != head
    lines = [json.loads(line) for line in anchor_file.read_text().splitlines()]
    assert [line["head"] for line in lines] == [head, second["head"]]
    anchor_chain()  # nothing new: no duplicate line
    assert len(anchor_file.read_text().splitlines()) == 2


def test_removing_the_newest_entries_is_caught_at_the_next_run(anchor_file):
    _poke(3)
    assert anchor_chain()["ok"]
    newest = AuditEntry.objects.order_by("-id").first()
    with connection.cursor() as cur:  # what only the table owner could do (the trigger stops the rest)
        cur.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        cur.execute("DELETE FROM audit_auditentry WHERE id = %s", [newest.pk])
        cur.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
    result = anchor_chain()
    assert result["ok"] is False and "not in the chain" in result["problem"]
    assert last_anchor(anchor_file) == newest.hash  # the last good anchor stays the reference
    assert len(anchor_file.read_text().splitlines()) == 1
