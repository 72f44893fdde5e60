from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "reliability.incidents"
    label = "incidents"
    verbose_name = "Incidents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from opsportal.dashboard.panels import register_panel
        from opsportal.events.relay import subscribe
        from reliability.incidents import metrics
        from reliability.incidents.panels import INCIDENTS_PANEL, register_sentences
        from reliability.incidents.portal_signals import RELAY_KEY, portal_signal_relay

        metrics.register()
        from reliability.incidents import config_cache

        config_cache.connect_signals()
        _extend_roles_and_auditlog()
        # The portal's own incidents: breaker and DLQ outbox events → alerts of source "portal".
        subscribe(RELAY_KEY, portal_signal_relay)
        register_panel(INCIDENTS_PANEL)  # open incidents by severity on /ops/
        register_sentences()


# Roles and the auditlog diff net are extended from here (their modules invite apps to add themselves).
ROLE_PERMISSIONS = {
    "operator": {
        "incidents.incident": ("view",), "incidents.alert": ("view",), "incidents.incidentevent": ("view",),
        "incidents.silence": ("view",), "incidents.notification": ("view",),
        **{f"incidents.{m}": ("view", "add", "change", "delete") for m in (
            "routingrule", "maintenancewindow", "severitymapping", "escalationpolicy", "escalationstep",
            "oncallrotation", "rotationmember", "rotationoverride", "notificationchannel")},
        "incidents.usercontact": ("view", "add", "change"),  # phone numbers for SMS pages (saved via the service)
    },
    "support": {"incidents.incident": ("view",), "incidents.alert": ("view",), "incidents.incidentevent": ("view",)},
    "chaos_operator": {"incidents.incident": ("view",)},
}
AUDITLOG = {
    "incidents.RoutingRule": {}, "incidents.MaintenanceWindow": {}, "incidents.SeverityMapping": {},
    "incidents.EscalationPolicy": {}, "incidents.EscalationStep": {}, "incidents.OnCallRotation": {},
    "incidents.RotationOverride": {}, "incidents.NotificationChannel": {"exclude_fields": ["config"]},
}


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
    registration.register_auditlog_models()  # the audit app registered its list before this app was ready
