"""Real Celery worker and beat processes on this test's database and Redis db (slow tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings as django_settings
from django.db import connection

BASE_DIR = Path(django_settings.BASE_DIR)
CHAOS_ENV = {
    "OPSPORTAL_ENV": "staging",
    "OPSPORTAL_CHAOS_ENABLED": "true",
    "CHAOS_GUARD_INTERVAL_SECONDS": "0.5",
    "CHAOS_SETTLE_SECONDS": "40",
    # a loaded 2-core CI box can stall a runner for tens of seconds (a 2 s Redis ping took 21 s):
    # the beat sweep must not take that for a dead runner in the end-to-end drills
    "CHAOS_RUN_STALE_SECONDS": "120",
    "SECRET_KEY": "chaos-test-" + "x" * 60,
    "DEBUG": "false",
    "WEBHOOK_SINK_ENABLED": "true",
}


class Processes:
    def __init__(self, settings, tmp_path):
        db = connection.settings_dict
        database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "opsportal.settings", "DATABASE_URL": database_url,
                    "REDIS_URL": settings.REDIS_URL, "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                    "LOG_LEVEL": "WARNING", **CHAOS_ENV}
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen] = []

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen:
        log = (self.tmp_path / f"{name}-{len(self.started)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "opsportal", *args], cwd=BASE_DIR, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(proc)
        return proc

    def worker(self, concurrency: int = 3) -> subprocess.Popen:
        return self._spawn(["worker", "-l", "WARNING", "-c", str(concurrency), "-n", f"chaos-{uuid.uuid4().hex[:8]}@%h",
                            "--without-gossip", "--without-mingle", "--without-heartbeat"], "worker")

    def beat(self) -> subprocess.Popen:
        schedule = self.tmp_path / f"beat-{uuid.uuid4().hex[:6]}"
        return self._spawn(["beat", "-l", "WARNING", "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                            "--max-interval", "1", "-s", str(schedule)], "beat")

    @staticmethod
    def kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(30)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("*.log")))

    def stop(self) -> None:
        for proc in self.started:
            self.kill(proc)
