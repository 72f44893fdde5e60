from django.apps import AppConfig


class BreakersConfig(AppConfig):
    name = "reliability.breakers"
    label = "breakers"
    verbose_name = "Circuit breakers"

    def ready(self) -> None:
        from django.conf import settings

        from opsportal.dashboard.panels import register_panel
        from reliability.breakers import metrics
        from reliability.breakers.hooks import DjangoHooks, store_readiness_check
        from reliability.breakers.panels import BREAKERS_PANEL
        from reliability.breakers.runtime import default_registry
        from reliability.health.checks import register_check

        # Under pytest transitions are not written by a background thread (it would write
        # outside the test's transaction): tests call default_registry.drain().
        recorder = getattr(settings, "BREAKERS_RECORDER_THREAD", not getattr(settings, "TESTING", False))
        default_registry.configure(
            redis_url=getattr(settings, "BREAKERS_REDIS_URL", settings.REDIS_URL) or None,
            hooks=DjangoHooks(),
            background=True,
            recorder=recorder,
        )
        if not getattr(settings, "TESTING", False):  # pytest's own process: tests drain explicitly
            _flush_at_exit_wiring()
        register_check("breaker_store", store_readiness_check)
        register_panel(BREAKERS_PANEL)
        metrics.register()


def _flush_at_exit_wiring() -> None:
    """Write what the daemon threads still hold when a process exits normally (issue 11, item 9)."""
    import atexit

    from celery.signals import worker_process_shutdown, worker_shutdown

    from reliability.breakers.runtime import flush_at_exit

    atexit.register(flush_at_exit)
    # a prefork child exits through os._exit (no atexit): its own signal; the main process too
    worker_process_shutdown.connect(flush_at_exit, weak=False, dispatch_uid="breakers.flush_child")
    worker_shutdown.connect(flush_at_exit, weak=False, dispatch_uid="breakers.flush_main")
