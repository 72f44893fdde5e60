"""PostgreSQL tools for the restore drill: find them, dump, create/restore/drop the scratch database."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
from urllib.parse import quote

TOOL_TIMEOUT_SECONDS = 1800


class RestoreError(Exception):
    """A step of the drill failed; the message names it."""


def tool(name: str) -> str:
    """The newest ``pg_dump``/``pg_restore``: /usr/lib/postgresql/<v>/bin first (Debian), then PATH."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0, reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise RestoreError(f"{name} not found (install postgresql-client)")
    return found


def url_for(settings_dict: dict, name: str) -> str:
    """A libpq URL for database ``name`` with the credentials of ``settings_dict``."""
    user = quote(settings_dict.get("USER") or "postgres", safe="")
    password = f":{quote(settings_dict['PASSWORD'], safe='')}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{quote(name, safe='')}"


def scratch_name(source: str) -> str:
    return f"{source[:40]}_sandbox_{secrets.token_hex(4)}"


def run(args: list[str], *, what: str, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS, env=env)
    except subprocess.TimeoutExpired as exc:
        raise RestoreError(f"{what} timed out after {TOOL_TIMEOUT_SECONDS} s") from exc
    if out.returncode != 0:
        raise RestoreError(f"{what} failed (exit {out.returncode}): {(out.stderr or out.stdout).strip()[-800:]}")
    return out


def dump(url: str, path: str) -> None:
    run([tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl", f"--file={path}", f"--dbname={url}"],
        what="pg_dump")


def _admin(settings_dict: dict, sql: str) -> None:
    """Run ``sql`` on the maintenance database (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg

    with psycopg.connect(url_for(settings_dict, "postgres"), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


def create(settings_dict: dict, name: str) -> None:
    _admin(settings_dict, f'CREATE DATABASE "{name}"')


def drop(settings_dict: dict, name: str) -> None:
    _admin(settings_dict, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def restore(url: str, path: str) -> None:
    if not os.path.exists(path):
        raise RestoreError(f"dump file {path} does not exist")
    run([tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", f"--dbname={url}", path],
        what="pg_restore")
