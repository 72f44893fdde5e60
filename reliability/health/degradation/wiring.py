"""What the health app's ready() does for degradation, shedding and slow queries."""

from __future__ import annotations

ROLE_PERMISSIONS = {
    "operator": {"health.degradationoverride": ("view", "add", "change"), "health.degradationtransition": ("view",),
                 "health.slowquery": ("view",)},
    "support": {"health.degradationoverride": ("view",), "health.degradationtransition": ("view",)},
    "chaos_operator": {"health.degradationoverride": ("view",)},
}


def ready() -> None:
    from django.test.signals import setting_changed

    from opsportal.accounts import roles
    from opsportal.dashboard.panels import register_panel
    from reliability.health.degradation import metrics  # noqa: F401 - /metrics shows the level from the start
    from reliability.health.degradation.panels import DEGRADATION_PANEL
    from reliability.health.shedding import config as shedding_config
    from reliability.health.slowqueries import wiring as slow_wiring

    for role, perms in ROLE_PERMISSIONS.items():
        for label, actions in perms.items():
            roles.ROLE_PERMISSIONS.setdefault(role, {}).setdefault(label, actions)
    register_panel(DEGRADATION_PANEL)
    setting_changed.connect(shedding_config.setting_changed, dispatch_uid="health.shedding.setting_changed")
    slow_wiring.connect()
