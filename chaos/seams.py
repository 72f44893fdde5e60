"""Where chaos reaches into the portal beyond the outbound seam: the database wrapper.

The db-latency fault is a ``reliability.faults`` entry named ``db:default``; every connection of
the portal's own ``default`` alias carries ``_db_wrapper`` (installed on ``connection_created``),
which costs a dict lookup when no fault is set. The chaos engine's own checks run exempt, so a
drill never slows the guard that must stop it.
"""

from __future__ import annotations

import contextlib
import contextvars
import time

from reliability import faults

DB_TARGET = "db:default"
_exempt = contextvars.ContextVar("chaos_db_exempt", default=False)


def _db_wrapper(execute, sql, params, many, context):
    if not _exempt.get():
        fault = faults.fault_for(DB_TARGET, fallback=False)
        if fault is not None and fault.fires() and fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
    return execute(sql, params, many, context)


def install_db_latency_wrapper(sender=None, connection=None, **kwargs) -> None:
    if connection is None or connection.alias != "default":
        return
    if _db_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(_db_wrapper)


@contextlib.contextmanager
def db_exempt():
    token = _exempt.set(True)
    try:
        yield
    finally:
        _exempt.reset(token)


@contextlib.contextmanager
def db_not_exempt():
    """Feel the db-latency fault again inside the engine (a scenario measuring what the portal feels)."""
    token = _exempt.set(False)
    try:
        yield
    finally:
        _exempt.reset(token)
