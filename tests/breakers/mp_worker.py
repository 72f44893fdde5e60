"""A separate OS process using a breaker (driven by test_multiprocess.py over stdin/stdout).

    python tests/breakers/mp_worker.py drive|watch|probe NAME CONFIG_JSON

Prints ``ready`` once set up, waits for ``go`` on stdin, then prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def main() -> None:
    mode, name, config_json = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings_test")
    import django

    django.setup()
    import redis
    from django.conf import settings

    from reliability.breakers import BreakerConfig, CircuitOpenError, breaker, default_registry

    b = breaker(name, config=BreakerConfig(**json.loads(config_json)))
    deadline = time.monotonic() + 5
    if mode == "probe":
        while b.state == "closed" and time.monotonic() < deadline:  # wait until the flusher has seen "open"
            time.sleep(0.02)
    else:
        time.sleep(0.4)  # at least one flush: this process is in sync with Redis
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    result: dict = {"pid": os.getpid(), "mode": mode}

    if mode == "drive":
        executed, first_rejection = 0, None

        def failing():
            raise ConnectionError("upstream refused")

        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                executed += 1
                b.call(failing)
            except ConnectionError:
                pass
            except CircuitOpenError:
                executed -= 1
                first_rejection = time.time()
                break
            time.sleep(0.002)
        result.update(executed=executed, first_rejection=first_rejection)

    elif mode == "watch":
        # No calls: only the background flusher can tell this process that the breaker opened.
        end = time.monotonic() + 5
        while b.state != "open" and time.monotonic() < end:
            time.sleep(0.005)
        seen = time.time() if b.state == "open" else None
        ran = []
        try:
            b.call(lambda: ran.append(1))
            fast_fail = False
        except CircuitOpenError:
            fast_fail = True
        result.update(seen_open=seen, fast_fail=fast_fail and not ran)

    elif mode == "probe":
        counter = redis.Redis.from_url(settings.REDIS_URL)
        rejected = 0
        lock = threading.Lock()

        def probe():
            counter.incr(f"probes:{name}")
            time.sleep(0.3)
            raise ConnectionError("still down")

        def worker():
            nonlocal rejected
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                try:
                    b.call(probe)
                except ConnectionError:
                    pass
                except CircuitOpenError:
                    with lock:
                        rejected += 1
                time.sleep(0.005)

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result.update(rejected=rejected)

    default_registry.close()  # lets the recorder finish what it is writing
    default_registry.drain()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
