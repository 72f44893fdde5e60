"""The application's database role can only INSERT and SELECT the audit trail (issue #8 item
10d): deploy/postgres-grants.sql, run against the test PostgreSQL with a throwaway role."""

from __future__ import annotations

import re
import uuid

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit.actors import Actor
from audit.models import AuditEntry
from audit.services import audit_record
from opsportal.catalog.services import service_create

pytestmark = pytest.mark.django_db
SYSTEM = Actor.for_system("test")


def _statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


@pytest.fixture
def app_role():
    """A role with exactly the grants of deploy/postgres-grants.sql; the test runs as it."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    role = f"opsportal_app_{uuid.uuid4().hex[:8]}"
    sql = (settings.BASE_DIR / "deploy" / "postgres-grants.sql").read_text()
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        owner = cur.fetchone()[0]
        cur.execute(f'CREATE ROLE "{role}" NOLOGIN')  # rolled back with the test's transaction
        for statement in _statements(sql):
            statement = re.sub(r"\bopsportal_app\b", f'"{role}"', statement)
            statement = re.sub(r"\bopsportal_owner\b", f'"{owner}"', statement)
            cur.execute(statement)
        cur.execute(f'SET ROLE "{role}"')
    yield role
    with connection.cursor() as cur:
        cur.execute("RESET ROLE")


def _refused(sql: str, params=()) -> str:
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params)
    return str(caught.value)


def test_the_app_role_appends_to_the_audit_trail_but_cannot_rewrite_it(app_role):
    with transaction.atomic():
        entry = audit_record(actor=SYSTEM, action="test.grant", target=("thing", "1"), source="test")
    service = service_create(name="granted", actor=SYSTEM, source="test")  # ordinary writes still work
    assert AuditEntry.objects.filter(pk=entry.pk).exists() and service.pk
    # Refused by the grants, before the trigger is even reached:
    assert "permission denied for table audit_auditentry" in _refused(
        "UPDATE audit_auditentry SET reason = 'rewritten' WHERE id = %s", [entry.pk])
    assert "permission denied for table audit_auditentry" in _refused(
        "DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    assert "permission denied for table audit_auditentry" in _refused("TRUNCATE audit_auditentry")
    assert "must be owner" in _refused("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == app_role
