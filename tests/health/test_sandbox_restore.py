"""Issue 11 item 10: ``manage.py sandbox_restore`` against the real PostgreSQL test database.

Each run dumps the test database, restores it into ``<db>_sandbox_<hex>``,
migrates, checks, sanitises and drops it.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.actors import Actor
from audit.models import AuditEntry
from opsportal.catalog.services import service_create
from opsportal.events.models import OutboxEvent
from reliability.health.restore import pg
from reliability.health.restore.drill import RestoreResult, sandbox_restore
from reliability.health.restore.services import restore_drill_record
from reliability.webhooks.models import Delivery, WebhookEvent, WebhookFailure
from tests.webhooks.conftest import make_destination, make_source  # noqa: F401 - fixtures

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ACTOR = Actor.for_system("restore-test")


def _sandboxes() -> list[str]:
    db = connection.settings_dict
    with psycopg.connect(pg.url_for(db, "postgres"), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            [f"{db['NAME'][:40]}_sandbox_%"]).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def data(make_user, make_source, make_destination):  # noqa: F811
    """A little of everything: users with emails, audited changes, a delivered and a dead-lettered webhook."""
    user = make_user("olga", "operator")
    user.email = "olga@example.com"
    user.save()
    for name in ("payments", "search"):
        service_create(name=name, actor=ACTOR, source="cli")
    destination = make_destination("orders")
    source = make_source("shop", destinations=[destination])
    now = timezone.now()

    def accepted(status: str) -> Delivery:
        event = WebhookEvent.objects.create(source=source, provider_event_id=f"evt-{status}-{now.timestamp()}",
                                            event_type="charge", headers={"x-secret-ish": "1"}, body=b'{"card": 4242}',
                                            received_at=now - timedelta(hours=2))
        return Delivery.objects.create(event=event, destination=destination, status=status, attempts=1,
                                       created_at=now - timedelta(hours=2), next_attempt_at=now - timedelta(hours=2))

    accepted("delivered")
    dead = accepted("dead")
    WebhookFailure.objects.create(delivery=dead, source=source, destination=destination, provider="shop",
                                  event_type="charge", payload=b"{}", error_message="HTTP 500")
    return {"source": source, "destination": destination, "accepted": accepted}


def test_a_healthy_database_passes_reports_sanitises_and_drops_the_scratch_copy(data, capsys):
    call_command("sandbox_restore", "--json")
    out = capsys.readouterr().out
    assert "PASSED" in out
    assert "audit chain: intact" in out
    assert "webhooks: 2 accepted, 2 deliveries: 1 delivered, 1 in the DLQ, 0 in progress, 0 lost" in out
    assert "scratch database dropped" in out
    assert _sandboxes() == []
    report = json.loads(out[out.index("{"):])["report"]
    assert report["counts"]["webhooks_webhookevent"] == 2 and report["counts"]["auth_user"] >= 1
    assert report["sanitised"]["auth_user"] >= 1 and report["sanitised"]["audit_auditentry"] >= 1
    assert report["smoke"]["ok"] and report["smoke"]["models"] > 20
    assert report["audit_chain"]["entries"] == AuditEntry.objects.count()
    # the source is untouched by the sanitiser
    assert WebhookEvent.objects.filter(body=b'{"card": 4242}').count() == 2
    assert get_user_model().objects.get(username="olga").email == "olga@example.com"


def test_a_drill_is_recorded_as_an_outbox_event():
    result = RestoreResult(source="opsportal", scratch="opsportal_sandbox_1", dump="", seconds=3.5,
                           failures=["audit chain broken at entry #7: content does not match its hash (entry edited)"])
    restore_drill_record(result)
    event = OutboxEvent.objects.get(type="health.restore_drill")
    assert event.data["ok"] is False and event.data["failures"] == result.failures and event.data["seconds"] == 3.5


def _tamper_audit_row() -> int:
    target = AuditEntry.objects.order_by("id")[1]
    with connection.cursor() as cursor:  # as a DBA would have to: the trigger refuses UPDATE otherwise
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        cursor.execute("UPDATE audit_auditentry SET reason = 'rewritten' WHERE id = %s", [target.pk])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")
    return target.pk


def test_a_broken_audit_chain_fails_naming_the_entry(data):
    tampered = _tamper_audit_row()
    with pytest.raises(CommandError, match=rf"audit chain broken at entry #{tampered}: content does not match"):
        call_command("sandbox_restore")
    assert _sandboxes() == []


def test_an_accepted_webhook_neither_delivered_nor_in_the_dlq_fails(data):
    lost = data["accepted"]("failed")  # retries stopped two hours ago and no DLQ entry: lost
    with pytest.raises(CommandError, match=rf"1 accepted webhook deliveries neither delivered nor in the DLQ: #{lost.pk}"):
        call_command("sandbox_restore")
    assert _sandboxes() == []


def test_a_given_dump_file_is_restored(data, tmp_path):
    path = tmp_path / "prod.dump"
    pg.dump(pg.url_for(connection.settings_dict, connection.settings_dict["NAME"]), str(path))
    _tamper_audit_row()  # after the dump: the dump itself is intact
    result = sandbox_restore(dump=str(path))
    assert result.ok, result.failures
    assert result.dump == str(path) and result.dump_bytes == path.stat().st_size


def test_a_corrupt_dump_fails_naming_pg_restore(data, tmp_path):
    path = tmp_path / "bad.dump"
    path.write_bytes(b"PGDMP not really")
    result = sandbox_restore(dump=str(path))
    assert not result.ok and "pg_restore failed" in result.failures[0]
    assert _sandboxes() == []


def test_refuses_clearly_on_sqlite(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("sandbox_restore")


def test_the_pg_tools_are_found():
    assert subprocess.run([pg.tool("pg_restore"), "--version"], capture_output=True, text=True).stdout.startswith("pg_restore")


def test_the_beat_task_records_a_drill_that_could_not_run(monkeypatch):
    from reliability.health.restore import drill, tasks
    from reliability.health.restore.pg import RestoreError

    def refuse(**_kwargs):
        raise RestoreError("pg_dump not found (install postgresql-client)")

    monkeypatch.setattr(drill, "sandbox_restore", refuse)
    assert tasks.restore_drill.run() is False
    event = OutboxEvent.objects.get(type="health.restore_drill")
    assert event.data["ok"] is False and event.data["failures"] == ["pg_dump not found (install postgresql-client)"]
