"""Incidents and their timeline."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    P0 = "P0", "P0 (page everyone)"
    P1 = "P1", "P1 (critical)"
    P2 = "P2", "P2 (error/warning)"
    P3 = "P3", "P3 (info, never pages)"


class AlertSource(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Alertmanager"
    EVENTS = "events", "Events API (PagerDuty v2)"
    PORTAL = "portal", "the portal itself"


class Incident(models.Model):
    """One open problem: a group of alerts (by group key) or a person's report.

    At most one incident per ``group_key`` is open (not resolved): a database
    constraint, so concurrent deliveries of one group cannot open two. A
    resolved incident never absorbs new alerts; the intake reopens it inside
    the reopen window or opens a new one linked through ``previous``.
    """

    class Status(models.TextChoices):
        TRIGGERED = "triggered", "triggered"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        RESOLVED = "resolved", "resolved"

    number = models.PositiveBigIntegerField(unique=True, null=True, blank=True, editable=False,
                                            help_text="human sequence (#42); assigned at creation")
    title = models.CharField(max_length=500)
    service = models.ForeignKey("catalog.Service", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="incidents")
    severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P2)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRIGGERED)
    source = models.CharField(max_length=12, choices=AlertSource.choices, default=AlertSource.ALERTMANAGER)
    group_key = models.CharField(max_length=512, help_text="Alertmanager groupKey, events:<dedup_key>, portal:<alarm>")
    group_labels = models.JSONField(default=dict, blank=True,
                                    help_text="the group's labels: the exact matchers of its silences")
    dedup_key = models.CharField(max_length=255, blank=True, default="", db_index=True)
    external_url = models.CharField(max_length=2000, blank=True, default="")
    runbook_url = models.CharField(max_length=2000, blank=True, default="")
    started_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_alert_at = models.DateTimeField(null=True, blank=True, help_text="the last time an alert fired into it")
    ack_expires_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                          help_text="when the acknowledgement runs out (policy's ack timeout)")
    silenced_until = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_incidents")
    acknowledged_by = models.CharField(max_length=200, blank=True, default="")
    resolved_by = models.CharField(max_length=200, blank=True, default="")
    resolve_note = models.TextField(blank=True, default="")
    reopened_count = models.PositiveIntegerField(default=0)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followups",
                                 help_text="the resolved incident of the same group this one follows")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged")
    escalation_policy = models.ForeignKey("incidents.EscalationPolicy", null=True, blank=True,
                                          on_delete=models.SET_NULL, related_name="incidents")
    # Escalation position (the escalation engine owns these; durable timers swept with SKIP LOCKED).
    escalation_step = models.PositiveIntegerField(default=0, help_text="index of the next step to fire")
    escalation_loop = models.PositiveIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True, db_index=True)
    escalation_id = models.UUIDField(default=uuid.uuid4, help_text="changes on every restart; stale sweeps see it moved")
    suppressed = models.BooleanField(default=False, help_text="opened under a maintenance window: recorded, never pages")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["severity", "-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["group_key"], condition=~Q(status="resolved"),
                                    name="incident_one_open_per_group"),
        ]
        indexes = [
            models.Index(fields=["status", "severity"], name="incident_status_sev"),
            models.Index(fields=["group_key", "-resolved_at"], name="incident_group_recent"),
            # /ops/incidents/ (open, by severity then oldest): the first 200 of 10,000 open
            # incidents straight from the index instead of sorting them all (bench/incidents (c))
            models.Index(fields=["severity", "started_at", "id"], name="incident_open_list",
                         condition=Q(status__in=["triggered", "acknowledged"])),
        ]

    def __str__(self) -> str:
        return f"#{self.number or self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED


class IncidentEvent(models.Model):
    """The timeline: every alert attach, state change, silence, escalation step, notification, comment."""

    class Kind(models.TextChoices):
        OPENED = "opened", "opened"
        REOPENED = "reopened", "reopened"
        ALERT_FIRING = "alert_firing", "alert firing"
        ALERT_RESOLVED = "alert_resolved", "alert resolved"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        UNACKNOWLEDGED = "unacknowledged", "acknowledgement withdrawn"
        RESOLVED = "resolved", "resolved"
        ASSIGNED = "assigned", "assigned"
        COMMENT = "comment", "comment"
        MERGED = "merged", "merged"
        SILENCE_REQUESTED = "silence_requested", "silence requested"
        SILENCE_CREATED = "silence_created", "silence created"
        SILENCE_FAILED = "silence_failed", "silence failed"
        SILENCE_EXPIRED = "silence_expired", "silence expired"
        ESCALATION_STEP = "escalation_step", "escalation step"
        ACK_EXPIRED = "ack_expired", "acknowledgement expired"
        NOTIFICATION_SENT = "notification_sent", "notification sent"
        NOTIFICATION_FAILED = "notification_failed", "notification failed"
        NOTIFICATION_FELL_BACK = "notification_fell_back", "notification fell back"
        NOTIFICATION_RETRY = "notification_retry", "notification rescheduled"
        MAINTENANCE = "maintenance", "maintenance window"
        CHECKLIST = "checklist", "runbook checklist"
        ROOT_CAUSE_HINT = "root_cause_hint", "root-cause hint"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    actor_label = models.CharField(max_length=200, blank=True, default="")
    source = models.CharField(max_length=30, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="incident_event_at")]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.at:%Y-%m-%d %H:%M:%S}"
