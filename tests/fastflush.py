"""A cheaper database flush after each transactional test (PostgreSQL), same end state as Django's.

Django's ``TransactionTestCase`` ends every test with ``flush``: ``TRUNCATE`` of all 77 tables,
then ``post_migrate``, which re-creates the content types, permissions, the four role groups and
the chaos scenario catalog that the ``TRUNCATE`` just removed. About half the suite is
transactional (live servers, workers, browsers), so that cost is paid ~850 times a run.

Here the reference tables (what ``post_migrate`` writes) are kept and only the tables that hold
rows are truncated, ``CASCADE`` so the tables referencing them go too. A test that changed a
reference table (a role's permissions, a scenario row) is caught by a digest of those tables, and
that test's teardown falls back to Django's own flush, after which the digest is taken again.
SQLite and multi-database or ``available_apps`` cases keep Django's path unchanged.
"""

from __future__ import annotations

from django.db import connections, transaction
from django.test import TransactionTestCase

# What post_migrate writes after a flush (checked: the only non-empty tables after one).
REFERENCE_TABLES = ("django_content_type", "auth_permission", "auth_group", "auth_group_permissions",
                    "chaos_chaosscenario")

_original = TransactionTestCase._fixture_teardown
_digests: dict[str, str] = {}


def _digest(cursor) -> str:
    parts = " UNION ALL ".join(
        f"SELECT '{t}', md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM \"{t}\" x"
        for t in REFERENCE_TABLES)
    cursor.execute(parts)
    return repr(cursor.fetchall())


def _fast_teardown(self) -> None:
    names = list(self._databases_names(include_mirrors=False))
    if (len(names) != 1 or self.available_apps is not None or self.serialized_rollback or self.reset_sequences
            or connections[names[0]].vendor != "postgresql"):
        return _original(self)
    name = names[0]
    connection = connections[name]
    with transaction.atomic(using=name), connection.cursor() as cursor:
        known = _digests.get(name)
        if known is not None and _digest(cursor) == known:
            tables = [t for t in connection.introspection.django_table_names(only_existing=True, include_views=False)
                      if t not in REFERENCE_TABLES]
            cursor.execute(" UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))
            full = [connection.ops.quote_name(row[0]) for row in cursor.fetchall()]
            if full:
                cursor.execute(f"TRUNCATE {', '.join(full)} CASCADE")
            return None
    _original(self)  # the first time, or a reference table changed: Django's flush and post_migrate
    with connection.cursor() as cursor:
        _digests[name] = _digest(cursor)
    return None


def install() -> None:
    TransactionTestCase._fixture_teardown = _fast_teardown
