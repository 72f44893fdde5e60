"""The restore drill: dump → scratch database → migrate, check, sanitise → report → drop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import connection

from reliability.health.restore import pg
from reliability.health.restore.pg import RestoreError


@dataclass
class RestoreResult:
    """What ``sandbox_restore`` found; ``failures`` names every reason it fails (empty: passed)."""

    source: str
    scratch: str
    dump: str
    dump_bytes: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    dropped: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _failures(report: dict) -> list[str]:
    found = []
    chain = report.get("audit_chain", {})
    if not chain.get("ok"):
        found.append(chain.get("problem") or "audit chain did not verify")
    hooks = report.get("webhooks", {})
    if not hooks.get("ok"):
        examples = ", ".join(f"#{x['delivery']} ({x['status']})" for x in hooks.get("lost_examples", [])[:5])
        found.append(f"{hooks.get('lost')} accepted webhook deliveries neither delivered nor in the DLQ: {examples}")
    alerts = report.get("alerts", {})
    if not alerts.get("ok"):
        found.append(f"{alerts.get('unlinked')} firing alerts in no incident: "
                     f"{', '.join('#' + str(a) for a in alerts.get('unlinked_examples', [])[:5])}")
    smoke = report.get("smoke", {})
    for problem in smoke.get("problems", []):
        found.append(f"smoke: {problem}")
    return found


def _inside(url: str, grace: float) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_POOL": "off",
           "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "opsportal.settings"),
           "OTEL_ENABLED": "false"}
    try:
        out = subprocess.run([sys.executable, "-m", "reliability.health.restore.inside", str(grace)],
                             cwd=settings.BASE_DIR, env=env, capture_output=True, text=True,
                             timeout=pg.TOOL_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise RestoreError("the checks in the scratch database timed out") from exc
    if out.returncode != 0:
        raise RestoreError(f"migrate/checks in the scratch database failed: {out.stderr.strip()[-1200:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RestoreError(f"the checks printed no report: {out.stdout[-500:]} {out.stderr[-500:]}")
    return json.loads(lines[-1])


def sandbox_restore(*, dump: str | None = None, grace_seconds: float | None = None) -> RestoreResult:
    """Run the drill on this deployment's PostgreSQL database; always drops the scratch database.

    ``dump``: a custom-format dump (``pg_dump -Fc``) to restore instead of a
    fresh dump of the database. Raises ``RestoreError`` for a step that could
    not run (tools, permissions); a restore that ran but found problems is a
    result with ``failures``.
    """
    if connection.vendor != "postgresql":
        raise RestoreError(f"sandbox_restore needs PostgreSQL (this database is {connection.vendor}): "
                           "pg_dump and pg_restore cannot work on it")
    grace = float(grace_seconds if grace_seconds is not None else getattr(settings, "RESTORE_DRILL_GRACE_SECONDS", 900))
    db = connection.settings_dict
    source = db["NAME"]
    scratch = pg.scratch_name(source)
    started = time.monotonic()
    result = RestoreResult(source=source, scratch=scratch, dump=dump or "")
    with tempfile.TemporaryDirectory(prefix="sandbox-restore-") as tmp:
        path = dump
        if path is None:
            path = os.path.join(tmp, f"{source}.dump")
            pg.dump(pg.url_for(db, source), path)
            result.dump = "(fresh pg_dump)"
        result.dump_bytes = os.path.getsize(path) if os.path.exists(path) else 0
        pg.create(db, scratch)
        try:
            pg.restore(pg.url_for(db, scratch), path)
            result.report = _inside(pg.url_for(db, scratch), grace)
            result.failures = _failures(result.report)
        except RestoreError as exc:
            result.failures = [str(exc)]
        finally:
            pg.drop(db, scratch)
            result.dropped = True
    result.seconds = round(time.monotonic() - started, 2)
    return result


def report_lines(result: RestoreResult) -> list[str]:
    """The human report ``sandbox_restore`` prints."""
    r = result.report
    lines = [f"sandbox restore of {result.source} into {result.scratch} ({result.dump}, {result.dump_bytes} bytes, "
             f"{result.seconds} s; scratch database {'dropped' if result.dropped else 'NOT dropped'})"]
    if r.get("migrations") is not None:
        lines.append(f"migrations applied: {len(r['migrations'])}")
    if "audit_chain" in r:
        c = r["audit_chain"]
        lines.append(f"audit chain: {'intact' if c['ok'] else 'BROKEN'} ({c['entries']} entries verified)")
    if "webhooks" in r:
        w = r["webhooks"]
        lines.append(f"webhooks: {w['accepted']} accepted, {w['deliveries']} deliveries: {w['delivered']} delivered, "
                     f"{w['in_dlq']} in the DLQ, {w['in_progress']} in progress, {w['lost']} lost")
    if "alerts" in r:
        a = r["alerts"]
        lines.append(f"alerts: {a['alerts']} stored, {a['in_incident']} in an incident, {a['unlinked']} firing in none")
    if "sanitised" in r:
        lines.append("sanitised: " + ", ".join(f"{t} {n}" for t, n in r["sanitised"].items()))
    if "smoke" in r:
        lines.append(f"smoke: {r['smoke']['models']} models queried, {len(r['smoke']['problems'])} problems")
    if "counts" in r:
        lines.append("rows: " + ", ".join(f"{t}={n}" for t, n in r["counts"].items() if n))
    lines.append("PASSED" if result.ok else "FAILED: " + "; ".join(result.failures))
    return lines
