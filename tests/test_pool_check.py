"""The pooled PostgreSQL engine pings a connection only when it has been idle in the pool.

Real PostgreSQL, a real psycopg_pool behind a second Django connection (alias
``pool-check``) built from the test database's settings with the pool turned on, as the
settings do under ASGI.
"""

from __future__ import annotations

from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from opsportal.backends.postgresql.base import DatabaseWrapper, needs_check, stamp_returned

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_connection_is_checked_when_it_was_never_returned_or_sat_idle_long_enough():
    conn = SimpleNamespace()  # any object the pool could hand out
    assert needs_check(conn, 1.0)
    stamp_returned(conn)
    returned = conn._opsportal_returned_at
    assert not needs_check(conn, 1.0, now=returned + 0.5)
    assert needs_check(conn, 1.0, now=returned + 1.0)
    assert needs_check(conn, 0.0, now=returned)


@pytest.fixture
def pooled(settings):
    settings.DATABASE_POOL_CHECK = True
    settings.DATABASE_POOL_CHECK_IDLE_SECONDS = 3600
    params = {
        **connection.settings_dict,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {**connection.settings_dict.get("OPTIONS", {}),
                    "pool": {"min_size": 1, "max_size": 1, "timeout": 10, "reset": stamp_returned}},
    }
    wrapper = DatabaseWrapper(params, alias="pool-check")
    yield wrapper
    wrapper.close()
    wrapper.close_pool()


@pytest.fixture
def pings(monkeypatch):
    seen = []
    real = ConnectionPool.check_connection

    def counting(conn):
        seen.append(conn)
        return real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    return seen


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_connection_handed_back_a_moment_ago_is_not_pinged_and_an_idle_one_is(pooled, pings, settings):
    first = _backend_pid(pooled)  # a brand-new connection: never returned, so checked once
    assert len(pings) == 1
    pooled.close()  # back to the pool, stamped
    assert _backend_pid(pooled) == first and len(pings) == 1  # reused without a round trip
    pooled.close()
    settings.DATABASE_POOL_CHECK_IDLE_SECONDS = 0  # every hand-out counts as idle now
    assert _backend_pid(pooled) == first and len(pings) == 2


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_a_request_sees_it(pooled, pings, settings):
    dead = _backend_pid(pooled)
    pooled.close()
    with connection.cursor() as cursor:  # the database drops it (a restart, a failover, an idle kill)
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead])
    settings.DATABASE_POOL_CHECK_IDLE_SECONDS = 0
    alive = _backend_pid(pooled)
    assert alive != dead
    assert len(pings) >= 2


def test_with_the_check_off_a_dead_pooled_connection_reaches_the_request(pooled, pings, settings):
    """What the check is for: shows the test above can fail."""
    settings.DATABASE_POOL_CHECK = False
    dead = _backend_pid(pooled)
    pooled.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead])
    from django.db import OperationalError

    with pytest.raises((OperationalError, psycopg.OperationalError)):
        _backend_pid(pooled)
    assert pings == []
