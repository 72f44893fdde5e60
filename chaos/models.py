"""Chaos drills: the scenario catalog, drills, runs with their journal, faults and the kill switch."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ChaosScenario(models.Model):
    """A kind of fault the portal knows how to inject (catalog rows: data migration 0002)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    parameters_schema = models.JSONField(default=dict, blank=True, help_text="JSON Schema of the drill's parameters")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class ChaosDrill(models.Model):
    """A planned experiment: scenario, parameters, targets, bounds, schedule, approval.

    Created by a chaos operator, approved by a different one, scheduled through
    django-celery-beat; each fired slot becomes one ``ChaosRun`` (unique per slot).
    """

    class State(models.TextChoices):
        DRAFT = "draft"
        PENDING_APPROVAL = "pending_approval"
        APPROVED = "approved"
        SCHEDULED = "scheduled"
        RUNNING = "running"
        COMPLETED = "completed"
        ABORTED = "aborted"
        HALTED = "halted"
        SKIPPED = "skipped"
        CANCELLED = "cancelled"

    name = models.CharField(max_length=200)
    scenario = models.ForeignKey(ChaosScenario, on_delete=models.PROTECT, related_name="drills")
    parameters = models.JSONField(default=dict, blank=True)
    targets = models.JSONField(default=list, blank=True, help_text="fault targets, each allowed by CHAOS_TARGET_ALLOWLIST")
    service = models.ForeignKey("catalog.Service", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="chaos_drills", help_text="the service under test (budget stop condition)")
    duration_seconds = models.PositiveIntegerField(default=60)
    blast_radius = models.PositiveSmallIntegerField(default=100, help_text="percent of calls to the targets a fault may hit")
    schedule = models.JSONField(default=dict, blank=True, help_text='{"at": ISO-8601} or {"cron": "m h dom mon dow", "timezone": …}')
    starting_deadline_seconds = models.PositiveIntegerField(default=300, help_text="a slot started later than this is skipped")
    stop_conditions = models.JSONField(default=dict, blank=True)
    steady_state = models.JSONField(default=dict, blank=True, help_text="the steady-state hypothesis")
    dry_run = models.BooleanField(default=False, help_text="every check and observation, no fault")
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="chaos_drills_created")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="chaos_drills_approved")
    approved_at = models.DateTimeField(null=True, blank=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", null=True, blank=True,
                                         on_delete=models.SET_NULL, related_name="chaos_drill")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"drill #{self.pk} {self.name}"

    @property
    def is_one_off(self) -> bool:
        return "at" in (self.schedule or {})


class ChaosRun(models.Model):
    """One execution of a drill for one scheduled slot: the (drill, slot) row decides, not beat."""

    class State(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        ABORTED = "aborted"
        HALTED = "halted"
        SKIPPED = "skipped"

    class Verdict(models.TextChoices):
        PASSED = "passed"
        FAILED = "failed"
        ABORTED = "aborted"
        SKIPPED = "skipped"

    ACTIVE_STATES = (State.RUNNING,)

    drill = models.ForeignKey(ChaosDrill, on_delete=models.CASCADE, related_name="runs")
    slot = models.DateTimeField(help_text="the scheduled time this run answers (one-off at, or the cron tick)")
    state = models.CharField(max_length=12, choices=State.choices, default=State.RUNNING, db_index=True)
    verdict = models.CharField(max_length=12, choices=Verdict.choices, blank=True, default="")
    score = models.FloatField(null=True, blank=True, help_text="weighted share of invariants held, 0–100")
    reason = models.TextField(blank=True, default="", help_text="why it was skipped, aborted or halted")
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="the runner's last sign of life")
    stop_requested = models.CharField(max_length=12, blank=True, default="", help_text="aborted|halted: the runner stops")
    invariants = models.JSONField(default=list, blank=True, help_text="[{name, weight, passed, detail}]")
    runner = models.CharField(max_length=200, blank=True, default="", help_text="host:pid of the process running it")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["drill", "slot"], name="chaos_run_one_per_slot"),
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} of drill #{self.drill_id} @ {self.slot:%Y-%m-%d %H:%M:%S}"

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE_STATES


class ChaosJournalEntry(models.Model):
    """One line of a run's journal (written by the engine, streamed to /ops/chaos/)."""

    class Kind(models.TextChoices):
        STEADY_BEFORE = "steady_state_before"
        STEADY_DURING = "steady_state_during"
        STEADY_AFTER = "steady_state_after"
        FAULT_APPLIED = "fault_applied"
        FAULT_REMOVED = "fault_removed"
        OBSERVATION = "observation"
        GUARD = "guard"
        INVARIANT = "invariant"
        VERDICT = "verdict"
        NOTE = "note"

    run = models.ForeignKey(ChaosRun, on_delete=models.CASCADE, related_name="journal")
    at = models.DateTimeField()
    kind = models.CharField(max_length=24, choices=Kind.choices)
    message = models.CharField(max_length=500, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run_id", "id"]
        verbose_name_plural = "chaos journal entries"

    def __str__(self) -> str:
        return f"{self.kind}: {self.message[:80]}"


class ChaosFault(models.Model):
    """A fault a run applied: what to remove, and when it ends on its own (TTL)."""

    run = models.ForeignKey(ChaosRun, on_delete=models.CASCADE, related_name="faults")
    kind = models.CharField(max_length=32, help_text="seam: outbound, db, redis-proxy, load, process, restore")
    target = models.CharField(max_length=200)
    spec = models.JSONField(default=dict, blank=True)
    applied_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["removed_at", "expires_at"], name="chaos_fault_live")]

    def __str__(self) -> str:
        return f"{self.kind} fault on {self.target}"


class ChaosKillSwitch(models.Model):
    """An engagement of the global lever: while one row is not released, no drill starts or runs."""

    engaged_by = models.CharField(max_length=200)
    reason = models.TextField(blank=True, default="")
    engaged_at = models.DateTimeField()
    released_by = models.CharField(max_length=200, blank=True, default="")
    released_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True, help_text="engaged and not yet released")

    class Meta:
        ordering = ["-id"]
        verbose_name = "chaos kill switch"
        verbose_name_plural = "chaos kill switch"
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="chaos_one_engaged_kill_switch"),
        ]

    def __str__(self) -> str:
        return f"kill switch #{self.pk} ({'engaged' if self.active else 'released'})"

