"""Escalation policies, on-call rotations, notification channels and the pages sent.

The escalation engine and the notifiers build on these; the intake only
assigns an incident its policy.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from reliability.incidents.models.incidents import Incident


class EscalationPolicy(models.Model):
    """Ordered steps, repeated ``loops`` more times; an acknowledgement lasts ``ack_timeout_minutes``.

    ``severities`` makes it the default policy for incidents of those
    severities when no routing rule names one.
    """

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    ack_timeout_minutes = models.PositiveIntegerField(default=30)
    loops = models.PositiveIntegerField(default=0, help_text="how many times to repeat the steps after the first pass")
    severities = models.JSONField(default=list, blank=True, help_text='default for these severities, e.g. ["P0"]')
    service = models.ForeignKey("catalog.Service", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="escalation_policies")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationStep(models.Model):
    """Notify channels, users and/or a rotation's current on-call, then wait ``wait_minutes``."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField()
    wait_minutes = models.PositiveIntegerField(default=15, help_text="before the next step")
    channels = models.ManyToManyField("incidents.NotificationChannel", blank=True, related_name="steps")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="escalation_steps")
    rotation = models.ForeignKey("incidents.OnCallRotation", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="steps")

    class Meta:
        ordering = ["policy", "order"]
        constraints = [models.UniqueConstraint(fields=["policy", "order"], name="escalation_step_order")]

    def __str__(self) -> str:
        return f"{self.policy} step {self.order}"


class OnCallRotation(models.Model):
    """Members take shifts of ``shift_hours`` in ``position`` order from ``starts_at``, handing off at ``handoff_time``."""

    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    starts_at = models.DateTimeField(help_text="the first shift's start (anchor of the sequence)")
    handoff_time = models.TimeField(default="09:00")
    shift_hours = models.PositiveIntegerField(default=168, help_text="168 = weekly")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RotationMember(models.Model):
    rotation = models.ForeignKey(OnCallRotation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rotation_memberships")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["rotation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rotation", "position"], name="rotation_member_position"),
        ]

    def __str__(self) -> str:
        return f"{self.rotation} #{self.position}: {self.user}"


PHONE_VALIDATOR = RegexValidator(r"^\+[1-9][0-9]{6,14}$", "an E.164 number: + then 7 to 15 digits, e.g. +46701234567")


def mask_phone(number: str) -> str:
    """What logs, events, audit entries and pages about a page may show of a phone number: its last two digits."""
    number = (number or "").strip()
    if not number:
        return ""
    return "+" + "•" * max(len(number) - 3, 1) + number[-2:]


class UserContact(models.Model):
    """How to reach a person when paged beyond email: a phone number for SMS (personal data).

    Written only by ``services.contacts.user_contact_set``; shown masked
    (``mask_phone``) everywhere but the admin form of the row itself.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="incident_contact")
    phone_number = models.CharField(max_length=16, blank=True, default="", validators=[PHONE_VALIDATOR],
                                    help_text="E.164, e.g. +46701234567; texted when an SMS channel pages this user")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.user} {mask_phone(self.phone_number)}"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone_number)


class RotationOverride(models.Model):
    """Someone else is on call between ``starts_at`` and ``ends_at``."""

    rotation = models.ForeignKey(OnCallRotation, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rotation_overrides")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["rotation", "starts_at"]

    def __str__(self) -> str:
        return f"{self.user} on {self.rotation} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%Y-%m-%d %H:%M}"


class NotificationChannel(models.Model):
    """Where a page goes. ``config`` holds kind-specific settings (URLs, secrets: never shown or logged).

    A channel whose breaker is open, or that still fails after its retries,
    falls back to ``fallback`` (e.g. Slack → email).
    """

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack-compatible incoming webhook"
        WEBHOOK = "webhook", "generic signed webhook"
        EMAIL = "email", "email"
        SMS = "sms", "SMS through an HTTP provider"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    fallback = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fallback_for")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def breaker_name(self) -> str:
        return f"notify:{self.kind}:{self.pk}"


class Notification(models.Model):
    """One page: (incident, step, loop, channel or user) under a unique idempotency key, so nothing pages twice."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENT = "sent", "sent"
        FAILED = "failed", "failed"
        FELL_BACK = "fell_back", "fell back"
        CANCELLED = "cancelled", "cancelled (acknowledged or resolved before it went out)"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notifications")
    step = models.ForeignKey(EscalationStep, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="notifications")
    loop = models.PositiveIntegerField(default=0)
    channel = models.ForeignKey(NotificationChannel, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="notifications")
    fallback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fallbacks")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    idempotency_key = models.CharField(max_length=200, unique=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"
