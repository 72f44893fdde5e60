from django.apps import AppConfig


class SlosConfig(AppConfig):
    name = "reliability.slos"
    label = "slos"
    verbose_name = "SLOs and error budgets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsportal.dashboard.panels import register_panel
        from reliability.slos import metrics
        from reliability.slos.panels import SLO_PANEL

        metrics.register()
        _extend_roles_and_auditlog()
        register_panel(SLO_PANEL)  # SLOs by remaining budget on /ops/


ROLE_PERMISSIONS = {
    "operator": {
        **{f"slos.{m}": ("view", "add", "change", "delete") for m in ("slo", "burnalertpolicy", "burntier")},
        "slos.budgetcorrection": ("view", "add", "change"),
        "slos.slibucket": ("view",), "slos.slihour": ("view",), "slos.slostatus": ("view",),
    },
    "support": {"slos.slo": ("view",), "slos.slostatus": ("view",)},
    "chaos_operator": {"slos.slo": ("view",), "slos.slostatus": ("view",)},
}
AUDITLOG = {"slos.BurnAlertPolicy": {}}


def _extend_roles_and_auditlog() -> None:
    from audit import registration
    from opsportal.accounts import roles

    for role, perms in ROLE_PERMISSIONS.items():
        for label, actions in perms.items():
            roles.ROLE_PERMISSIONS.setdefault(role, {}).setdefault(label, actions)
    for label, options in AUDITLOG.items():
        if label not in registration.AUDITLOG_MODELS:
            registration.AUDITLOG_MODELS.append(label)
            registration.AUDITLOG_OPTIONS.setdefault(label, options)
    registration.register_auditlog_models()
