"""Slow jobs: Celery's task_prerun/task_postrun signals time every task; slower than SLOW_JOB_SECONDS → a SlowJob row.

Arguments are summarised, never stored: numbers, booleans and short plain strings are shown;
anything under a secret-looking key, or a string that looks like a credential, is ``***``;
the whole summary is cut at 300 characters.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

_started: dict[str, float] = {}
_lock = threading.Lock()
_SECRET_KEY = re.compile(r"secret|token|password|passwd|signature|authori[sz]ation|api[_-]?key|cookie|credential|"
                         r"private|session|dsn|payload|body", re.I)
_SECRET_VALUE = re.compile(r"^(whsec_|sk_|pk_|rk_|xox[abp]-|ghp_|Bearer\s|Basic\s)|^[A-Za-z0-9+/=_\-]{24,}$")
_MAX_ITEM = 40
_MAX_TOTAL = 300


def _value(value, depth: int = 0) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        if _SECRET_VALUE.search(value) or ("://" in value and "@" in value):
            return "***"
        return repr(value if len(value) <= _MAX_ITEM else value[:_MAX_ITEM] + "…")
    if isinstance(value, list | tuple):
        if depth >= 1:
            return f"[{len(value)} items]"
        inner = ", ".join(_value(v, depth + 1) for v in value[:5])
        return f"[{inner}{', …' if len(value) > 5 else ''}]"
    if isinstance(value, dict):
        if depth >= 1:
            return f"{{{len(value)} keys}}"
        inner = ", ".join(f"{k!s}={'***' if _SECRET_KEY.search(str(k)) else _value(v, depth + 1)}"
                          for k, v in list(value.items())[:5])
        return "{" + inner + (", …" if len(value) > 5 else "") + "}"
    return f"<{type(value).__name__}>"


def summarise(args, kwargs) -> str:
    """A short, secret-free rendering of a task's arguments."""
    parts = [_value(a) for a in (args or ())]
    parts += [f"{k}={'***' if _SECRET_KEY.search(str(k)) else _value(v)}" for k, v in (kwargs or {}).items()]
    text = ", ".join(parts)
    return text if len(text) <= _MAX_TOTAL else text[:_MAX_TOTAL - 1] + "…"


def on_task_prerun(task_id=None, **_kwargs) -> None:
    if task_id:
        with _lock:
            _started[task_id] = time.monotonic()


def on_task_postrun(task_id=None, task=None, args=None, kwargs=None, state=None, **_kwargs) -> None:
    with _lock:
        started = _started.pop(task_id, None) if task_id else None
    if started is None:
        return
    duration = time.monotonic() - started
    if duration < float(settings.SLOW_JOB_SECONDS):
        return
    try:
        from reliability.health.services import slow_job_record

        request = getattr(task, "request", None)
        slow_job_record(task_name=getattr(task, "name", "") or "?", task_id=task_id, duration_seconds=duration,
                        args_summary=summarise(args, kwargs), worker=getattr(request, "hostname", "") or "",
                        state=state or "")
    except Exception:  # telemetry never fails a task
        log.warning("could not record the slow job %s", task_id, exc_info=True)


def connect() -> None:
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(on_task_prerun, dispatch_uid="health.jobs.prerun", weak=False)
    task_postrun.connect(on_task_postrun, dispatch_uid="health.jobs.postrun", weak=False)
