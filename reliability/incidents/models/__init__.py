"""Incident models, split by concern: incidents, alerts and rules, escalation and notifications."""

from reliability.incidents.models.alerts import (
    DEFAULT_SEVERITY_MAPPING,
    Alert,
    MaintenanceWindow,
    RoutingRule,
    SeverityMapping,
    Silence,
)
from reliability.incidents.models.escalation import (
    EscalationPolicy,
    EscalationStep,
    Notification,
    NotificationChannel,
    OnCallRotation,
    RotationMember,
    RotationOverride,
    UserContact,
    mask_phone,
)
from reliability.incidents.models.incidents import AlertSource, Incident, IncidentEvent, Severity

__all__ = [
    "DEFAULT_SEVERITY_MAPPING",
    "Alert",
    "AlertSource",
    "EscalationPolicy",
    "EscalationStep",
    "Incident",
    "IncidentEvent",
    "MaintenanceWindow",
    "Notification",
    "NotificationChannel",
    "OnCallRotation",
    "RotationMember",
    "RotationOverride",
    "RoutingRule",
    "Severity",
    "SeverityMapping",
    "Silence",
    "UserContact",
    "mask_phone",
]
