"""redis-hang, worker-crash and restore-drill: the portal's own infrastructure."""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import urlparse

from chaos.scenarios.base import Invariant, RunContext, Scenario

REDIS_TARGET = "redis:app"


def _redis_ping(port: int, timeout: float = 0.5) -> float | None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout)
    started = time.perf_counter()
    try:
        client.ping()
        return round((time.perf_counter() - started) * 1000, 1)
    except Exception:  # noqa: BLE001 - a hung or reset peer is the observation
        return None
    finally:
        client.close()


class RedisHang(Scenario):
    slug = "redis-hang"
    name = "Redis hang / reset"
    description = ("The application's Redis connection through a TCP fault proxy on 127.0.0.1: latency, hang, reset "
                   "or down (toxiproxy semantics). Never the broker's path.")
    schema = {
        "type": "object",
        "properties": {"mode": {"enum": ["latency", "hang", "reset", "down"]},
                       "latency_ms": {"type": "integer", "minimum": 1, "maximum": 30000},
                       "listen_port": {"type": "integer", "minimum": 0, "maximum": 65535}},
        "additionalProperties": False,
    }

    def apply(self, ctx: RunContext) -> None:
        from django.conf import settings

        from chaos.scenarios.proxy import FaultProxy

        url = urlparse(settings.REDIS_URL or "redis://127.0.0.1:6379/0")
        proxy = FaultProxy(name=REDIS_TARGET, upstream_host=url.hostname or "127.0.0.1", upstream_port=url.port or 6379,
                           listen_port=int(ctx.parameters.get("listen_port", 0))).start()
        ctx.scratch["proxy"] = proxy
        ctx.scratch["baseline_ms"] = _redis_ping(proxy.port)
        mode = ctx.parameters.get("mode", "hang")
        kwargs = {"latency_ms": int(ctx.parameters.get("latency_ms", 200))} if mode == "latency" else {
            "error": {"hang": "hang", "reset": "reset", "down": "connect"}[mode]}
        ctx.set_fault("redis", REDIS_TARGET, **kwargs)

    def observe(self, ctx: RunContext) -> dict:
        proxy = ctx.scratch.get("proxy")
        return {"ping_via_proxy_ms": _redis_ping(proxy.port) if proxy else None}

    def remove(self, ctx: RunContext) -> None:
        ctx.scratch["after_ms"] = _redis_ping(ctx.scratch["proxy"].port, timeout=2.0) if ctx.scratch.get("proxy") else None

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        from django.conf import settings

        found = super().invariants(ctx)
        proxy = ctx.scratch.pop("proxy", None)
        if proxy is not None:
            found.append(Invariant("Redis answers through the proxy once the fault is gone", ctx.scratch.get("after_ms") is not None,
                                   2, f"ping {ctx.scratch.get('after_ms')} ms"))
            proxy.stop()
        if settings.CELERY_BROKER_URL.startswith("redis"):
            port = urlparse(settings.CELERY_BROKER_URL).port or 6379
            found.append(Invariant("the broker's path was never touched", _redis_ping(port) is not None, 1))
        return found


def _worker_children(exclude: set[int]) -> list[int]:
    from opsportal.celery import app

    stats = app.control.inspect(timeout=2.0).stats() or {}
    pids = [pid for s in stats.values() for pid in (s.get("pool", {}).get("processes") or [])]
    return [p for p in pids if p not in exclude]


class WorkerCrash(Scenario):
    slug = "worker-crash"
    name = "Worker crash"
    description = ("SIGKILL a Celery pool process (not the one running the drill) mid-delivery; the pool replaces it "
                   "and the delivery lease hands its work to another claim.")
    schema = {"type": "object", "properties": {"kills": {"type": "integer", "minimum": 1, "maximum": 5},
                                               "settle_seconds": {"type": "integer", "minimum": 0, "maximum": 600}},
              "additionalProperties": False}

    def apply(self, ctx: RunContext) -> None:
        ctx.scratch["killed"] = []
        ctx.set_fault("process", "worker:celery", latency_ms=0)

    def tick(self, ctx: RunContext) -> None:
        if ctx.dry_run or len(ctx.scratch["killed"]) >= int(ctx.parameters.get("kills", 1)):
            return
        mine = {os.getpid(), os.getppid()}
        for pid in _worker_children(mine)[:1]:
            try:
                os.kill(pid, signal.SIGKILL)
                ctx.scratch["killed"].append(pid)
                ctx.journal("observation", f"killed worker process {pid}", {"pid": pid})
            except (ProcessLookupError, PermissionError):
                pass

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        from opsportal.celery import app

        found = super().invariants(ctx)
        if not ctx.dry_run:
            found.append(Invariant("a worker process was killed", bool(ctx.scratch.get("killed")), 1,
                                   str(ctx.scratch.get("killed"))))
        replies = app.control.inspect(timeout=2.0).ping() or {}
        found.append(Invariant("workers recovered (answer a ping)", bool(replies), 2, f"{len(replies)} workers"))
        return found


class RestoreDrill(Scenario):
    slug = "restore-drill"
    name = "Restore drill"
    description = "Runs manage.py sandbox_restore (restore a dump into a scratch database, sanitise, migrate, check)."
    schema = {"type": "object", "properties": {"dump": {"type": "string", "maxLength": 500}}, "additionalProperties": False}

    def skip_reason(self) -> str:
        from django.core.management import get_commands

        return "" if "sandbox_restore" in get_commands() else "sandbox_restore not available"

    def apply(self, ctx: RunContext) -> None:
        import io

        from django.core.management import call_command

        ctx.set_fault("restore", "sandbox", latency_ms=0)
        if ctx.dry_run:
            return
        out = io.StringIO()
        args = ["--dump", ctx.parameters["dump"]] if ctx.parameters.get("dump") else []
        try:
            call_command("sandbox_restore", *args, stdout=out, stderr=out)
            ctx.scratch["restore"] = {"ok": True, "output": out.getvalue()[-2000:]}
        except Exception as exc:  # noqa: BLE001 - the failure is the drill's finding
            ctx.scratch["restore"] = {"ok": False, "output": f"{type(exc).__name__}: {exc}"[:2000]}
        ctx.journal("observation", "sandbox_restore finished", ctx.scratch["restore"])

    def invariants(self, ctx: RunContext) -> list[Invariant]:
        found = super().invariants(ctx)
        if not ctx.dry_run:
            result = ctx.scratch.get("restore") or {}
            found.append(Invariant("sandbox_restore succeeded", bool(result.get("ok")), 3, result.get("output", "")[-300:]))
        return found
