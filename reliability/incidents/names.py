"""The app's names in one registry: audit actions and outbox event types, one spelling each."""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions (``audit.AuditEntry.action``)."""

    INCIDENT_OPEN = "incident.open"
    INCIDENT_REOPEN = "incident.reopen"
    INCIDENT_ACKNOWLEDGE = "incident.acknowledge"
    INCIDENT_UNACKNOWLEDGE = "incident.unacknowledge"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_ASSIGN = "incident.assign"
    INCIDENT_COMMENT = "incident.comment"
    INCIDENT_MERGE = "incident.merge"
    SILENCE_CREATE = "silence.create"
    SILENCE_EXPIRE = "silence.expire"
    ESCALATION_STEP = "escalation.step"
    NOTIFICATION_SEND = "notification.send"
    NOTIFICATION_RETRY = "notification.retry"  # a failed page without fallback rescheduled (durable backoff)
    CONTACT_SET = "notification.contact_set"  # a user's phone number set or cleared (masked in the entry)
    INCIDENT_ACK_EXPIRE = "incident.ack_expire"
    ESCALATION_POLICY_CREATE = "escalation.policy_create"
    CHANNEL_CREATE = "notification.channel_create"
    CHANNEL_UPDATE = "notification.channel_update"
    ROTATION_CREATE = "rotation.create"
    ROTATION_UPDATE = "rotation.update"
    ESCALATION_POLICY_UPDATE = "escalation.policy_update"
    ROUTING_RULE_CREATE = "routing.rule_create"
    ROUTING_RULE_UPDATE = "routing.rule_update"
    CHECKLIST_TICK = "incident.checklist_tick"
    ROOT_CAUSE_HINT = "incident.root_cause_hint"  # a known cause attached (a chaos drill's fault)
    MAINTENANCE_CREATE = "maintenance.create"
    MAINTENANCE_UPDATE = "maintenance.update"
    MAINTENANCE_START = "maintenance.start"
    MAINTENANCE_END = "maintenance.end"


class Event(enum.StrEnum):
    """Outbox event types (``events.OutboxEvent.type``); the first segment picks the live group."""

    INCIDENT_OPENED = "incident.opened"
    INCIDENT_REOPENED = "incident.reopened"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_UNACKNOWLEDGED = "incident.unacknowledged"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_ASSIGNED = "incident.assigned"
    INCIDENT_COMMENTED = "incident.commented"
    INCIDENT_MERGED = "incident.merged"
    INCIDENT_UPDATED = "incident.updated"  # alerts attached/resolved, severity raised
    SILENCE_CREATED = "incident.silence_created"
    SILENCE_EXPIRED = "incident.silence_expired"
    ESCALATION_STEP = "incident.escalation_step"
    NOTIFICATION_SENT = "incident.notification_sent"
    NOTIFICATION_FAILED = "incident.notification_failed"
    NOTIFICATION_FELL_BACK = "incident.notification_fell_back"
    NOTIFICATION_RETRY_SCHEDULED = "incident.notification_retry_scheduled"
    CONTACT_CHANGED = "incident.contact_changed"  # a user's paging contact (number masked)
    INCIDENT_ACK_EXPIRED = "incident.ack_expired"
    ESCALATION_POLICY_CREATED = "incident.escalation_policy_created"
    CHANNEL_CHANGED = "incident.channel_changed"  # a notification channel created or edited
    ROTATION_CHANGED = "incident.rotation_changed"  # an on-call rotation created, edited or re-membered
    ESCALATION_POLICY_CHANGED = "incident.escalation_policy_changed"  # edited (steps replaced)
    ROUTING_RULE_CHANGED = "incident.routing_rule_changed"  # created or edited
    CHECKLIST_TICKED = "incident.checklist_ticked"  # a runbook step ticked or unticked
    ROOT_CAUSE_HINTED = "incident.root_cause_hinted"
    MAINTENANCE_CHANGED = "incident.maintenance_changed"  # a window created or edited
    MAINTENANCE_STARTED = "incident.maintenance_started"
    MAINTENANCE_ENDED = "incident.maintenance_ended"


class Source(enum.StrEnum):
    """Where a state change came from (audit ``source``, timeline ``source``)."""

    ALERTMANAGER = "alertmanager"
    EVENTS = "events"
    PORTAL = "portal"
    API = "api"
    ADMIN = "admin"
    OPS = "ops"
    TASK = "task"
    SEED = "seed"
