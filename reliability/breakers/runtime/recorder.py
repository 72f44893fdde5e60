"""The registry's background threads: the flusher (shared mode) and the recorder (hooks)."""

from __future__ import annotations

import queue
import threading
import time

from reliability.breakers.runtime.base import log


class BackgroundThreads:
    """Hook calls off the caller's thread and the periodic Redis flush; mixed into ``BreakerRegistry``."""

    # --- hook calls ----------------------------------------------------------------------------
    def drain(self) -> int:
        """Run the queued hook calls in this thread (tests; the recorder thread does it otherwise)."""
        done = 0
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return done
            self._run_hook(item)
            done += 1

    def _run_hook(self, item: tuple) -> None:
        hooks = self.hooks
        if hooks is None:
            return
        try:
            if item[0] == "transition":
                hooks.record_transition(item[1])
            elif item[0] == "register":
                hooks.register(item[1], item[2])
        except Exception:
            log.exception("breaker hook %s failed", item[0])

    def _release_hooks(self) -> None:
        # The recorder holds what the hooks use (a DB connection) only while it writes: never idle.
        hooks = self.hooks
        if hooks is None:
            return
        try:
            hooks.release_connections()
        except Exception:
            log.exception("releasing the breaker hooks' connections failed")

    # --- threads -----------------------------------------------------------------------------
    def wake_flusher(self) -> None:
        if self.store is not None:
            self._wake.set()

    def _ensure_threads(self) -> None:
        if not self.background or self._threads and all(t.is_alive() for t in self._threads):
            return
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            names = {t.name for t in self._threads}
            stop = self._stop
            if self.store is not None and "breaker-flusher" not in names:
                t = threading.Thread(target=self._flusher_loop, args=(stop,), name="breaker-flusher", daemon=True)
                t.start()
                self._threads.append(t)
            if self.hooks is not None and self.recorder and "breaker-recorder" not in names:
                t = threading.Thread(target=self._recorder_loop, args=(stop,), name="breaker-recorder", daemon=True)
                t.start()
                self._threads.append(t)

    def _flusher_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if stop.is_set():
                return
            try:
                self.sync_once()
            except Exception:
                log.exception("breaker flush failed")

    def _recorder_loop(self, stop: threading.Event) -> None:
        next_refresh = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + self.config_refresh
                try:
                    self.refresh_configs()
                except Exception:
                    log.exception("loading breaker configs failed")
                finally:
                    self._release_hooks()
            try:
                item = self._events.get(timeout=0.5)
            except queue.Empty:
                continue
            self._run_hook(item)
            self._release_hooks()

    def shutdown(self) -> None:
        """Flush at a normal process exit: outcomes to Redis, queued transitions to the hooks.

        The flusher and the recorder are daemon threads: a process that trips a
        breaker and exits within their interval would otherwise take the
        outcomes and the transition record with it (no ``BreakerTransition``
        row, no incident). Called from atexit, gunicorn's ``worker_exit`` and
        Celery's ``worker_process_shutdown``/``worker_shutdown``; idempotent,
        never raises (it runs while the process is going away).
        """
        try:
            self.close()  # the recorder finishes the row it is writing; nothing runs beside us
            if self.store is not None and self.shared_active:
                self.sync_once()  # pending outcomes may decide a trip in Redis: recorded below
            self.drain()
        except Exception:
            log.exception("flushing the breakers at exit failed")
        finally:
            self._release_hooks()

    def close(self) -> None:
        """Stop the background threads (they are daemons; this is for tests and reconfigure)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2)
        self._threads = []
        self._wake.clear()
