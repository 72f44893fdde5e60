"""A separate OS process that exits normally right after using a breaker (test_exit_flush.py).

    python tests/breakers/exit_worker.py feed|trip NAME CONFIG_JSON FAILURES

feed: make FAILURES failing calls, push them to Redis, print ``fed``, exit when told ``exit``.
trip: make FAILURES failing calls and return at once: no close(), no drain(); only the
exit flush (atexit) can push its outcomes and write the transition.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    mode, name, config_json, failures = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings_test")
    import django

    django.setup()
    from reliability.breakers import BreakerConfig, CircuitOpenError, breaker, default_registry

    if mode == "trip":
        # the flusher never ticks in this process' life: its outcomes leave only through the exit flush
        default_registry.flush_interval = 3600.0
    b = breaker(name, config=BreakerConfig(**json.loads(config_json)))

    def failing():
        raise ConnectionError("upstream refused")

    for _ in range(failures):
        try:
            b.call(failing)
        except (ConnectionError, CircuitOpenError):
            pass
    if mode == "feed":
        default_registry.sync_once()  # our share is in Redis before the tripping process starts
        print("fed", flush=True)
        assert sys.stdin.readline().strip() == "exit"
    print(json.dumps({"pid": os.getpid(), "state": b.state}), flush=True)
    # falls off the end: a normal interpreter exit (atexit runs)


if __name__ == "__main__":
    main()
