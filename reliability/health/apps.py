from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "reliability.health"
    label = "health"
    verbose_name = "Health"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from opsportal.dashboard.panels import register_panel
        from reliability.health import heartbeat, jobs, metrics
        from reliability.health.panels import HEALTH_PANEL, register_sentences

        metrics.register()
        heartbeat.connect()  # the workers' dead-man switch (a thread from worker_ready)
        jobs.connect()  # slow jobs (task_prerun/task_postrun)
        register_panel(HEALTH_PANEL)
        register_sentences()
        setting_changed.connect(_settings_changed, dispatch_uid="health.ready_cache")
        _extend_roles()
        from reliability.health.degradation import wiring as degradation_wiring

        degradation_wiring.ready()  # degradation panel, roles, slow-query monitor


_READY_SETTINGS = {"DATABASES", "REDIS_URL", "CELERY_BROKER_URL", "HEALTH_CHECK_TIMEOUT_SECONDS",
                   "HEALTH_READY_CACHE_SECONDS"}


def _settings_changed(setting=None, **_kwargs) -> None:
    if setting in _READY_SETTINGS:  # tests point dependencies elsewhere: forget cached readiness
        from reliability.health.checks import clear_cache

        clear_cache()


ROLE_PERMISSIONS = {
    role: {f"health.{m}": ("view",) for m in ("systemhealthevent", "healthcheck", "workerheartbeat", "slowjob")}
    for role in ("operator", "support", "chaos_operator")
}


def _extend_roles() -> None:
    from opsportal.accounts import roles

    for role, perms in ROLE_PERMISSIONS.items():
        for label, actions in perms.items():
            roles.ROLE_PERMISSIONS.setdefault(role, {}).setdefault(label, actions)
