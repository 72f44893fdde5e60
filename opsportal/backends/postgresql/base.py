"""The PostgreSQL engine: django-prometheus' (query and connection metrics) and a cheaper pool check.

Under ASGI the settings turn on Django's connection pool (psycopg_pool). Its health check
pings every connection it hands out: one more round trip for every request, which cost
uvicorn ~15 % of its webhook ingestion (bench/webhooks (c)). Here a pooled connection is
pinged only when it has sat in the pool for ``DATABASE_POOL_CHECK_IDLE_SECONDS`` or longer;
one handed back a moment ago, by a request that used it without breaking it (the pool
discards a broken one on return), is handed out as it is. A dead one is given back, and
the pool replaces it, until a live one turns up. The hand-back time is stamped by the
pool's ``reset`` callback, ``stamp_returned``, which the settings install with the check.
"""

from __future__ import annotations

from time import monotonic

import psycopg
from django.conf import settings
from django_prometheus.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

_RETURNED_AT = "_opsportal_returned_at"


def stamp_returned(conn) -> None:
    """The pool's ``reset`` callback (settings): remember when the connection came back."""
    setattr(conn, _RETURNED_AT, monotonic())


def needs_check(conn, idle_seconds: float, now: float | None = None) -> bool:
    returned = getattr(conn, _RETURNED_AT, None)
    return returned is None or (monotonic() if now is None else now) - returned >= idle_seconds


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        conn = super().get_new_connection(conn_params)
        if not self.pool or not settings.DATABASE_POOL_CHECK:
            return conn
        idle = settings.DATABASE_POOL_CHECK_IDLE_SECONDS
        for _ in range(self.pool.max_size + 1):
            if not needs_check(conn, idle):
                return conn
            try:
                ConnectionPool.check_connection(conn)
                return conn
            except psycopg.Error:
                self.pool.putconn(conn)  # broken: the pool discards it and opens another
                conn = super().get_new_connection(conn_params)
        return conn
