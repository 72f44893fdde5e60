from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

KNOWN_SCOPES = (
    "read",
    "admin",
    "alerts:write",
    "incidents:write",
    "slo:write",
    "dlq:write",
    "breakers:write",
    "webhooks:admin",
    "runbooks:write",
    "heartbeats:write",
    "catalog:write",
    "audit:read",
    "chaos:write",  # chaos drills (issue 14): create, schedule, halt, kill switch; approval needs a person
)


class IntegrationToken(models.Model):
    """A per-service API token. Only its SHA-256 is stored; the token is shown once."""

    service = models.ForeignKey("catalog.Service", on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.service.name}/{self.prefix}"

    # DRF treats request.user as authenticated through this token.
    is_authenticated = True

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def has_scope(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes
