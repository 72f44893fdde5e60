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
        register_check("breaker_store", store_readiness_check)
        register_panel(BREAKERS_PANEL)
        metrics.register()
