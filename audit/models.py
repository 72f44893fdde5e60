"""The audit trail: append-only, hash-chained entries written by services only."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from datetime import UTC
from typing import Any

from django.db import models

GENESIS_HASH = "0" * 64


def canonical_ip(value: str | None) -> str | None:
    """One spelling per address: PostgreSQL's inet and Python print IPv6 differently."""
    if not value:
        return None
    addr = ipaddress.ip_address(value)
    if addr.version == 6:
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return addr.exploded
    return str(addr)


def canonical_json_value(value: Any) -> Any:
    """Integral floats become ints: jsonb prints 1e16 as 10000000000000000, read back as int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: canonical_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_json_value(v) for v in value]
    return value


class AuditEntry(models.Model):
    """One operator, integration or system action.

    No foreign keys: rows must outlive what they describe, and an ON DELETE
    cascade would be an UPDATE/DELETE the PostgreSQL trigger refuses.
    """

    class ActorKind(models.TextChoices):
        USER = "user"
        TOKEN = "token"
        SYSTEM = "system"

    created_at = models.DateTimeField(db_index=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_token_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=200, db_index=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True, db_index=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=30, blank=True, help_text="admin, api, dashboard, cli, task, system")
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_label} {self.action} {self.target_type}:{self.target_id}"

    def canonical(self) -> bytes:
        """The exact bytes the hash covers: every field but id and hash.

        Compact JSON with sorted keys, ASCII only. Values are normalised so the
        bytes are the same before the INSERT and after a round trip through
        either database: ``created_at`` in UTC with microseconds, ``ip`` in one
        textual form, integral floats as integers (docs/audit.md).
        """
        payload = {
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_kind": self.actor_kind,
            "actor_user_id": self.actor_user_id,
            "actor_token_id": self.actor_token_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "target_repr": self.target_repr,
            "changes": canonical_json_value(self.changes),
            "reason": self.reason,
            "source": self.source,
            "request_id": self.request_id,
            "ip": canonical_ip(self.ip),
            "user_agent": self.user_agent,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()
