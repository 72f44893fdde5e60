"""The runtime package stays plain Python: importing it must not import Django."""

from __future__ import annotations

import subprocess
import sys
import threading

from django.conf import settings
from django.db import connection

from reliability.breakers.hooks import DjangoHooks
from reliability.breakers.runtime import BreakerRegistry, RuntimeHooks

CHECK = (
    "import reliability.breakers.runtime, sys; "
    "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), "
    "sorted(m for m in sys.modules if m.split('.')[0] == 'django')[:5]"
)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120
    )


def test_importing_the_runtime_package_imports_no_django():
    result = _run(CHECK)
    assert result.returncode == 0, result.stderr


def test_the_check_fails_when_something_imports_django():
    # the same assertion, after a Django import, must fail: the check can fail
    result = _run("import django.db; " + CHECK)
    assert result.returncode != 0
    assert "AssertionError" in result.stderr


def test_the_recorder_thread_releases_the_hooks_connections_after_it_writes(clock):
    """The recorder thread asks the hooks (not the runtime) to give back their connection."""
    calls: list[str] = []
    released_after_register = threading.Event()

    class Hooks(RuntimeHooks):
        def register(self, name, config) -> None:
            calls.append(f"register {name}")

        def release_connections(self) -> None:
            calls.append("release")
            if any(c.startswith("register") for c in calls):
                released_after_register.set()

    reg = BreakerRegistry(clock=clock, hooks=Hooks(), background=True, recorder=True)
    try:
        reg.get("layout-recorder")
        assert released_after_register.wait(60), calls
    finally:
        reg.close()


def test_django_hooks_close_the_threads_connection(db):
    state = {}

    def work():
        connection.ensure_connection()
        state["open_before"] = connection.connection is not None
        DjangoHooks().release_connections()
        state["open_after"] = connection.connection is not None

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert state == {"open_before": True, "open_after": False}
