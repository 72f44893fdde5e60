"""Helpers shared by the benchmarks under bench/ (see bench/README.md).

Standard library plus psycopg/redis/httpx from the project's venv; importing
this module never imports Django, so a benchmark's client process stays lean.
"""

from __future__ import annotations

import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "bench" / ".work"  # git-ignored: logs and scratch files
DEFAULT_DATABASE_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"


class BenchError(RuntimeError):
    """The benchmark itself could not run (not: the target was missed)."""


def python() -> str:
    """The interpreter for subprocesses: the repo's venv when present."""
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# --- real services ---------------------------------------------------------------

def database_url(name: str = "opsportal_bench") -> str:
    """A scratch PostgreSQL database URL for a benchmark.

    BENCH_DATABASE_URL is used verbatim. Otherwise the server (and credentials)
    come from DATABASE_URL, or the local PostgreSQL, and the database name is
    ``name``: benchmarks write rows and must never run in a real database.
    """
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_SERVER
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        raise BenchError(f"benchmarks need PostgreSQL; DATABASE_URL has scheme {parts.scheme!r}")
    return urlunsplit(parts._replace(path="/" + name))


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist yet."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BenchError(f"PostgreSQL at {parts.hostname}:{parts.port or 5432} unusable: {exc}") from exc


def check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {url} unusable: {exc}") from exc


def django_env(settings_module: str, **extra: str) -> dict[str, str]:
    """Environment for a production-like Django subprocess of the benchmark."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        OPSPORTAL_ENV="production",
        DEBUG="false",
        SECRET_KEY=env.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(48),
        OTEL_ENABLED="false",
        PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p),
    )
    env.update(extra)
    return env


def manage(args: Sequence[str], env: dict[str, str], timeout: float = 600) -> str:
    """Run ``manage.py args`` and return its stdout; BenchError with its output on failure."""
    proc = subprocess.run(
        [python(), str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn(app: str, env: dict[str, str], *, workers: int = 1, threads: int = 4,
             ready_path: str = "/", ready_timeout: float = 60, log_name: str = "gunicorn"):
    """Serve ``app`` with gunicorn -k gthread on a free 127.0.0.1 port; yields the base URL.

    Waits until ``ready_path`` answers 200; always stops the server (SIGTERM,
    then SIGKILL) and raises BenchError with the log tail if it never got ready.
    """
    port = free_port()
    cmd = [
        python(), "-m", "gunicorn", app,
        "-k", "gthread", "--workers", str(workers), "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT),
        "--error-logfile", "-", "--log-level", "warning",
    ]
    return _served(cmd, env, port, ready_path=ready_path, ready_timeout=ready_timeout, log_name=log_name,
                   what="gunicorn")


@contextmanager
def _served(cmd: list[str], env: dict[str, str], port: int, *, ready_path: str, ready_timeout: float,
            log_name: str, what: str):
    import httpx

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    log = WORK_DIR / f"{log_name}.log"
    with open(log, "wb") as log_file:  # the app's and the server's stderr
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise BenchError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
            try:
                if httpx.get(base + ready_path, timeout=2, headers={"X-Forwarded-Proto": "https"}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{what} not ready after {ready_timeout:.0f}s:\n{tail(log)}")
            time.sleep(0.2)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def uvicorn(app: str, env: dict[str, str], *, workers: int = 1, ready_path: str = "/", ready_timeout: float = 60,
            log_name: str = "uvicorn"):
    """Serve the ASGI ``app`` with uvicorn (uvloop + httptools) on a free 127.0.0.1 port; yields the base URL.

    Same contract as ``gunicorn()``: waits for ``ready_path``, always stops the server.
    """
    port = free_port()
    cmd = [
        python(), "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log", "--log-level", "warning",
    ]
    return _served(cmd, env, port, ready_path=ready_path, ready_timeout=ready_timeout, log_name=log_name,
                   what="uvicorn")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- figures ---------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def loadavg() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
