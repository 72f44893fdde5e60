"""Runbooks and their immutable versions."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Runbook(models.Model):
    """What to do when something breaks: owned, matched to alerts by label matchers, reviewed on a cadence.

    The text lives in versions; ``current_version`` is the one shown. ``matchers``
    is a list of ``{"label", "op", "value"}`` with op ``=``, ``!=``, ``=~``, ``!~``
    (Alertmanager semantics: regexes are anchored, a missing label is "").
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "draft"
        PUBLISHED = "published", "published"
        ARCHIVED = "archived", "archived"

    class Severity(models.TextChoices):
        P0 = "P0", "P0 (critical)"
        P1 = "P1", "P1 (high)"
        P2 = "P2", "P2 (medium)"
        P3 = "P3", "P3 (low)"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    service = models.ForeignKey("catalog.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="runbooks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    severity = models.CharField(max_length=2, choices=Severity.choices, default=Severity.P2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    review_interval_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1), MaxValueValidator(3650)])
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    last_reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    matchers = models.JSONField(default=list, blank=True)
    current_version = models.ForeignKey("RunbookVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("runbooks-ops:detail", args=[self.slug])

    @property
    def body(self) -> str:
        return self.current_version.body if self.current_version_id else ""

    def review_due_at(self):
        """When the next review is due: interval after the last review (or after creation if never reviewed)."""
        since = self.last_reviewed_at or self.created_at
        return since + timedelta(days=self.review_interval_days)


class RunbookVersion(models.Model):
    """One immutable revision of a runbook's text. Editing a runbook adds a version."""

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author_label = models.CharField(max_length=200, blank=True)  # tokens and the CLI have no user
    change_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [models.UniqueConstraint(fields=["runbook", "number"], name="runbook_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.runbook_id} v{self.number}"

    def save(self, *args, **kwargs):
        # Versions are history: never rewritten in place.
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("runbook versions are immutable; add a new version instead")
        super().save(*args, **kwargs)
