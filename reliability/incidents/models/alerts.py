"""Alerts as they arrive, and the rules that turn them into incidents."""

from __future__ import annotations

from django.db import models

from reliability.incidents.models.incidents import AlertSource, Incident, Severity


class Alert(models.Model):
    """One alert, upserted by (source, fingerprint); its state is its own row.

    Alertmanager's fingerprint, a PagerDuty-style ``dedup_key``, or the portal's
    alarm key (``breaker:stripe-api``). A fingerprint that fires again after its
    incident resolved moves to the reopened or new incident.
    """

    class Status(models.TextChoices):
        FIRING = "firing", "firing"
        RESOLVED = "resolved", "resolved"

    source = models.CharField(max_length=12, choices=AlertSource.choices, default=AlertSource.ALERTMANAGER)
    fingerprint = models.CharField(max_length=255)
    # No index of its own: alert_incident_status leads with incident_id and serves every lookup
    # by incident; one index fewer to write for each of a batch's alerts (bench/incidents).
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
                                 db_index=False)
    group_key = models.CharField(max_length=512, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FIRING)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.CharField(max_length=2000, blank=True, default="")
    last_payload = models.JSONField(default=dict, blank=True)
    suppressed = models.BooleanField(default=False, help_text="matched a maintenance window when it last fired")
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "fingerprint"], name="alert_unique_fingerprint"),
        ]
        indexes = [models.Index(fields=["incident", "status"], name="alert_incident_status")]

    def __str__(self) -> str:
        return f"{self.labels.get('alertname') or self.fingerprint} ({self.status})"


class Silence(models.Model):
    """An Alertmanager silence requested by an acknowledgement.

    Created after commit by a task; while Alertmanager is unreachable it stays
    ``pending`` with ``next_attempt_at`` and a beat sweep (SKIP LOCKED) retries.
    Resolving the incident asks for it to be expired (``expiring`` until done).
    """

    class State(models.TextChoices):
        PENDING = "pending", "pending (not yet in Alertmanager)"
        ACTIVE = "active", "active"
        EXPIRING = "expiring", "expiring (delete pending)"
        EXPIRED = "expired", "expired"
        FAILED = "failed", "failed (gave up)"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="silences")
    alertmanager_id = models.CharField(max_length=100, blank=True, default="")
    matchers = models.JSONField(default=list, help_text="Alertmanager v2 matchers: name, value, isRegex, isEqual")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_by = models.CharField(max_length=200, help_text="the operator's username: Alertmanager's createdBy")
    comment = models.CharField(max_length=1000, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"silence {self.alertmanager_id or '(pending)'} for {self.incident_id}"


class MaintenanceWindow(models.Model):
    """Alerts matching during the window are recorded but never page; resolves are still honoured.

    One-off (``starts_at``–``ends_at``) or recurring (``cron`` in ``timezone``,
    each occurrence lasting ``duration_minutes``, between starts_at and ends_at).
    """

    name = models.CharField(max_length=200)
    matchers = models.JSONField(default=list, help_text='[{"label": "service", "op": "=", "value": "payments"}]')
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    cron = models.CharField(max_length=100, blank=True, default="", help_text="m h dom mon dow; empty = one-off")
    timezone = models.CharField(max_length=64, blank=True, default="UTC")
    duration_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="per cron occurrence")
    reason = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    created_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    active_since = models.DateTimeField(null=True, blank=True, editable=False,
                                        help_text="start of the occurrence the maintenance sweep announced; "
                                                  "empty while inactive")

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.name


class RoutingRule(models.Model):
    """Ordered label matchers, first match wins: service, severity override, escalation policy, threshold.

    With a threshold the group opens an incident only when at least
    ``threshold_count`` of its alerts are firing and were received within
    ``threshold_window_seconds`` (resolved alerts never count).
    """

    name = models.CharField(max_length=200)
    order = models.IntegerField(default=100, db_index=True)
    matchers = models.JSONField(default=list, help_text='[{"label": "team", "op": "=~", "value": "pay.*"}]')
    service = models.ForeignKey("catalog.Service", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="routing_rules")
    severity = models.CharField(max_length=2, choices=Severity.choices, blank=True, default="",
                                help_text="override the mapped severity; empty keeps it")
    escalation_policy = models.ForeignKey("incidents.EscalationPolicy", null=True, blank=True,
                                          on_delete=models.SET_NULL, related_name="routing_rules")
    threshold_count = models.PositiveIntegerField(null=True, blank=True)
    threshold_window_seconds = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"{self.order}: {self.name}"


class SeverityMapping(models.Model):
    """``severity`` label value (lower-cased) → P0–P3. Unknown values map to P2 (a person looks)."""

    value = models.CharField(max_length=100, unique=True)
    severity = models.CharField(max_length=2, choices=Severity.choices)

    class Meta:
        ordering = ["severity", "value"]

    def __str__(self) -> str:
        return f"{self.value} → {self.severity}"


DEFAULT_SEVERITY_MAPPING = {
    "page": Severity.P0,
    "p0": Severity.P0,
    "critical": Severity.P1,
    "p1": Severity.P1,
    "error": Severity.P2,
    "warning": Severity.P2,
    "p2": Severity.P2,
    "info": Severity.P3,
    "p3": Severity.P3,
}

__all__ = ["DEFAULT_SEVERITY_MAPPING", "Alert", "MaintenanceWindow", "RoutingRule", "SeverityMapping", "Silence"]
