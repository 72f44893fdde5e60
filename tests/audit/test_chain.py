"""The hash chain: links, verification, concurrency and the append-only trigger."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from audit.actors import Actor
from audit.models import GENESIS_HASH, AuditEntry
from audit.selectors import audit_chain_verify
from audit.services import audit_record
from opsportal.catalog.services import service_create, service_update

SYSTEM = Actor.for_system("test")


def _chain() -> list[AuditEntry]:
    return list(AuditEntry.objects.order_by("id"))


def _assert_linear(entries: list[AuditEntry]) -> None:
    assert entries, "no entries"
    assert entries[0].prev_hash == GENESIS_HASH
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry.prev_hash == previous.hash, f"#{entry.pk} does not link to #{previous.pk}"
    for entry in entries:
        assert entry.hash == entry.compute_hash(), f"#{entry.pk} hash does not cover its content"
    assert len({e.prev_hash for e in entries}) == len(entries), "two entries share a parent: the chain forked"


@pytest.mark.django_db
def test_every_entry_links_to_the_previous_and_audit_verify_passes(operator, capsys):
    service = service_create(name="payments", actor=Actor(user=operator), source="api")
    service_update(service_id=service.pk, team="core", actor=Actor(user=operator), source="admin")
    with transaction.atomic():
        audit_record(actor=SYSTEM, action="test.poke", target=("thing", "x"), changes={"n": 1.0, "big": 1e16})

    entries = _chain()
    assert len(entries) == 3
    assert entries[0].prev_hash == "0" * 64
    _assert_linear(entries)
    assert all(len(e.hash) == 64 and int(e.hash, 16) >= 0 for e in entries)

    report = audit_chain_verify()
    assert (report.checked, report.broken, report.head_hash) == (3, None, entries[-1].hash)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "3 entries verified" in out and entries[-1].hash in out


@pytest.mark.django_db
def test_hash_is_stable_across_the_database_round_trip():
    """What is hashed before the INSERT must equal what verify re-hashes after reading it back."""
    from audit import context

    token = context.bind(context.RequestContext(request_id="r1", ip="::ffff:10.1.2.3", user_agent="ua"))
    try:
        with transaction.atomic():
            written = audit_record(
                actor=SYSTEM, action="test.odd", target=("thing", "y" * 500),
                changes={"float": 2.5, "int_float": 3.0, "huge": 1e16, "nan": float("nan"),
                         "nul": "a\x00b", "when": __import__("datetime").date(2026, 1, 2), "set": {1}},
                reason="nul \x00 here",
            )
    finally:
        context.reset(token)
    stored = AuditEntry.objects.get(pk=written.pk)
    assert stored.ip == "10.1.2.3"  # IPv4-mapped stored as IPv4
    assert len(stored.target_id) == 100 and "\x00" not in stored.reason
    assert stored.changes["when"] == "2026-01-02"
    assert stored.compute_hash() == stored.hash == written.hash
    assert audit_chain_verify().broken is None


@pytest.mark.django_db
@pytest.mark.parametrize("ip", ["2001:DB8:0:0:1:0:0:1", "::1.2.3.4", "10.0.0.7"])
def test_ip_spellings_verify_after_the_round_trip(ip):
    from audit import context

    token = context.bind(context.RequestContext(request_id="r", ip=ip))
    try:
        with transaction.atomic():
            audit_record(actor=SYSTEM, action="test.ip")
    finally:
        context.reset(token)
    assert audit_chain_verify().broken is None


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_raises():
    assert not connection.in_atomic_block
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        audit_record(actor=SYSTEM, action="test.loose")
    assert AuditEntry.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_give_one_linear_chain():
    """Threads on separate PostgreSQL connections, racing through service_create.

    compute_hash is slowed so that, without the advisory lock, two writers
    would read the same previous hash and fork the chain.
    """
    assert connection.vendor == "postgresql"
    threads_n, per_thread = 6, 5
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    original = AuditEntry.compute_hash

    def slow_hash(self):
        time.sleep(0.005)
        return original(self)

    def writer(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            for i in range(per_thread):
                service_create(name=f"svc-{n}-{i}", actor=Actor.for_system(f"writer-{n}"), source="test")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    with mock.patch.object(AuditEntry, "compute_hash", slow_hash):
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    entries = _chain()
    assert len(entries) == threads_n * per_thread
    assert len({e.actor_label for e in entries}) == threads_n  # they really were different writers
    _assert_linear(entries)
    assert audit_chain_verify().broken is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditentry SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_postgresql_trigger_refuses_update_and_delete(statement):
    assert connection.vendor == "postgresql"
    with transaction.atomic():
        entry = audit_record(actor=SYSTEM, action="test.keep", reason="original")

    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [entry.pk])
    assert "append-only" in str(info.value)
    assert info.value.__cause__.sqlstate == "42501"  # insufficient_privilege

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.reason == "original"
    assert audit_chain_verify().broken is None


@pytest.mark.django_db
def test_orm_update_and_delete_are_refused_too():
    with transaction.atomic():
        entry = audit_record(actor=SYSTEM, action="test.keep")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="test.changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        entry.delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "test.keep"


@pytest.mark.django_db
def test_audit_verify_anchor_catches_removed_newest_entries(capsys):
    with transaction.atomic():
        audit_record(actor=SYSTEM, action="test.one")
    with transaction.atomic():
        head = audit_record(actor=SYSTEM, action="test.two").hash

    call_command("audit_verify", anchor=head)  # still in the chain
    with pytest.raises(CommandError, match="anchor .* is not in the chain"):
        call_command("audit_verify", anchor="f" * 64)


def test_the_documented_canonical_example_is_exact():
    """docs/audit.md promises an exact serialisation: its worked example must hold."""
    import datetime as dt
    import hashlib
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    example = re.search(r"```\n(\{\"action\".*\})\n```", doc).group(1)
    documented_hash = re.search(r"hashes to `([0-9a-f]{64})`", doc).group(1)
    fields = json.loads(example)
    fields["created_at"] = dt.datetime.fromisoformat(fields["created_at"])
    entry = AuditEntry(**fields)
    assert entry.canonical().decode() == example
    assert entry.compute_hash() == hashlib.sha256(example.encode()).hexdigest() == documented_hash
