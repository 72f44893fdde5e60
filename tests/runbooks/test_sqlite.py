"""The embedded default (SQLite): migrate, import the shipped runbooks, search with the icontains fallback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SCRIPT = """
import django
django.setup()
from django.db import connection
from runbooks.selectors import runbook_list, runbooks_matching
assert connection.vendor == "sqlite", connection.vendor
print("body", sorted(r.runbook.slug for r in runbook_list(search="reconciliation report")))
print("title", sorted(r.runbook.slug for r in runbook_list(search="HEARTBEAT STALE")))
print("service", len(runbook_list(search="inventory-sync")))
print("match", [rb.slug for rb in runbooks_matching({"alertname": "StockSyncStale", "env": "prod"})])
"""


def test_sqlite_import_search_and_match(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="opsportal.settings", OPSPORTAL_VAR_DIR=str(tmp_path), LOG_LEVEL="WARNING")

    def run(*args: str) -> str:
        result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    run("manage.py", "migrate", "--noinput")
    assert "10 created" in run("manage.py", "import_runbooks", "docs/runbooks")
    assert "10 unchanged" in run("manage.py", "import_runbooks", "docs/runbooks")
    out = run("-c", SCRIPT)
    assert "body ['payment-processing-failure']" in out
    assert "title ['worker-heartbeat-stale']" in out
    assert "service 1" in out
    assert "match ['stock-sync-failure']" in out
