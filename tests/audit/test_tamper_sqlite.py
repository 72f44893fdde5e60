"""Tampering where no trigger protects the table (the embedded SQLite default).

The portal runs as a subprocess exactly as `make run` would: no DATABASE_URL,
no REDIS_URL, its own var directory. The rows are then edited behind its back
with the sqlite3 module, and `manage.py audit_verify` must name the entry.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sqlite_portal(tmp_path_factory):
    var = tmp_path_factory.mktemp("audit-sqlite")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="opsportal.settings", OPSPORTAL_VAR_DIR=str(var), LOG_LEVEL="WARNING")

    def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        if check and result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    manage("migrate", "--noinput")
    for name in ("payments", "search", "billing"):
        manage("issue_token", "--service", name, "--scopes", "read")  # service.create + token.issue each
    return manage, var / "opsportal.sqlite3"


def _rows(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, changes FROM audit_auditentry ORDER BY id").fetchall()


def test_untouched_chain_verifies(sqlite_portal):
    manage, db = sqlite_portal
    with sqlite3.connect(db) as conn:
        actions = sorted(a for (a,) in conn.execute("SELECT action FROM audit_auditentry"))
    # service.create + token.issue per command; the first outbox relay also registers the
    # channel layer's breaker (events-channel-layer), itself an audited change
    assert actions == ["breaker.register"] + ["catalog.service.create"] * 3 + ["token.issue"] * 3
    result = manage("audit_verify")
    assert f"{len(actions)} entries verified" in result.stdout


def test_editing_a_row_fails_verify_naming_it(sqlite_portal):
    manage, db = sqlite_portal
    victim_id, original = _rows(db)[2]
    edited = json.loads(original)
    edited["scopes"] = ["admin"]  # the classic cover-up: pretend the token was issued differently
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_auditentry SET changes = ? WHERE id = ?", [json.dumps(edited), victim_id])
    try:
        result = manage("audit_verify", check=False)
        assert result.returncode != 0
        assert f"entry #{victim_id}:" in result.stderr and "entry edited" in result.stderr
        assert "2 entries verified before it" in result.stderr
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE audit_auditentry SET changes = ? WHERE id = ?", [original, victim_id])
    assert manage("audit_verify", check=False).returncode == 0  # restoring the bytes restores the chain


@pytest.mark.parametrize("column", ["created_at", "ip"])
def test_editing_a_column_into_garbage_is_named_too(sqlite_portal, column):
    """SQLite has no types to stop it; verify must report the row, not crash."""
    manage, db = sqlite_portal
    victim_id = _rows(db)[1][0]
    with sqlite3.connect(db) as conn:
        (original,) = conn.execute(f"SELECT {column} FROM audit_auditentry WHERE id = ?", [victim_id]).fetchone()
        conn.execute(f"UPDATE audit_auditentry SET {column} = 'garbage' WHERE id = ?", [victim_id])
    try:
        result = manage("audit_verify", check=False)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert f"entry #{victim_id}:" in result.stderr
    finally:
        with sqlite3.connect(db) as conn:
            conn.execute(f"UPDATE audit_auditentry SET {column} = ? WHERE id = ?", [original, victim_id])


def test_deleting_rows_is_detected(sqlite_portal):
    """Runs last in this module: it leaves the database damaged."""
    manage, db = sqlite_portal
    head = manage("audit_verify").stdout.split("head ")[-1].strip()
    ids = [row[0] for row in _rows(db)]

    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_auditentry WHERE id = ?", [ids[3]])
    result = manage("audit_verify", check=False)
    assert result.returncode != 0
    assert f"entry #{ids[4]}:" in result.stderr and "prev_hash does not match" in result.stderr

    # Dropping only the newest row leaves a valid-looking chain: the recorded head catches it.
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM audit_auditentry WHERE id >= ?", [ids[3]])
    assert manage("audit_verify", check=False).returncode == 0
    result = manage("audit_verify", "--anchor", head, check=False)
    assert result.returncode != 0 and "is not in the chain" in result.stderr
