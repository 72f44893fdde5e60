"""Failure classes, recovery strategies and error signatures of the dead-letter queue (pure: no database).

A DLQ item's class is read from what killed it: its last attempt (or the
reason it was never sent). The class picks a default recovery strategy,
which a destination or a source may override per class. The error signature
(status code + the error text with digits, ids, hex and timestamps stripped)
groups items that died of the same thing, per destination and class.

See docs/webhooks.md, "Failure classes" and "Recovery strategies".
"""

from __future__ import annotations

import enum
import hashlib
import re

from django.db import models


class FailureClass(models.TextChoices):
    DESTINATION_DOWN = "destination_down", "destination down"  # refused/reset, DNS, timeouts, 502/503/504, lost lease
    RATE_LIMITED = "rate_limited", "rate limited"  # 429
    REJECTED = "rejected", "rejected"  # other 4xx: the consumer refuses this payload
    GONE = "gone", "gone"  # 410 (the destination was disabled), and the backlog dead-lettered with it
    SERVER_ERROR = "server_error", "server error"  # 500 and other 5xx
    SIGNATURE_REJECTED = "signature_rejected", "signature rejected"  # 401/403
    BREAKER_OPEN = "breaker_open", "breaker open"  # deferred by an open breaker past the whole schedule
    REFUSED = "refused", "refused (not sendable)"  # outbound policy refused the address, payload purged, disabled


class Strategy(enum.StrEnum):
    AUTO_REPLAY = "auto_replay_on_recovery"
    HOLD = "hold_for_review"


DEFAULT_STRATEGIES: dict[str, Strategy] = {
    FailureClass.DESTINATION_DOWN: Strategy.AUTO_REPLAY,
    FailureClass.RATE_LIMITED: Strategy.AUTO_REPLAY,
    FailureClass.BREAKER_OPEN: Strategy.AUTO_REPLAY,
    FailureClass.SERVER_ERROR: Strategy.AUTO_REPLAY,
    FailureClass.REJECTED: Strategy.HOLD,
    FailureClass.SIGNATURE_REJECTED: Strategy.HOLD,
    FailureClass.GONE: Strategy.HOLD,
    FailureClass.REFUSED: Strategy.HOLD,
}

HINTS: dict[str, str] = {
    FailureClass.SIGNATURE_REJECTED: (
        "The receiver could not verify the signature (401/403). If this destination's signing secret was rotated, "
        "give the receiver the new secret (or roll the rotation back), then replay these items."
    ),
    FailureClass.REJECTED: "The receiver refuses this payload (4xx): fix the payload or the receiver, then replay or discard.",
    FailureClass.GONE: "The receiver answered 410 Gone and the destination was disabled: re-enable it before replaying.",
    FailureClass.REFUSED: "Never sent: the outbound address policy refused the URL, the payload was purged, or the "
                          "destination is disabled. Fix the destination, then replay or discard.",
    FailureClass.RATE_LIMITED: "The receiver asked us to slow down (429): consider a rate limit on the destination.",
    FailureClass.BREAKER_OPEN: "The destination's breaker stayed open past the whole retry schedule.",
}

DOWN_STATUSES = {502, 503, 504}
SIGNATURE_STATUSES = {401, 403}


def classify(*, kind: str, status_code: int | None) -> str:
    """The class of a dead delivery from its last outcome's kind (``DeliveryAttempt.Result`` or engine outcome)."""
    if kind in ("timeout", "network_error", "lease_expired"):
        return FailureClass.DESTINATION_DOWN
    if kind == "deferred":
        return FailureClass.BREAKER_OPEN
    if kind in ("refused", "payload_purged", "destination_disabled"):
        return FailureClass.REFUSED
    if kind == "gone" or status_code == 410:
        return FailureClass.GONE
    if status_code is None:
        return FailureClass.DESTINATION_DOWN
    if status_code == 429:
        return FailureClass.RATE_LIMITED
    if status_code in SIGNATURE_STATUSES:
        return FailureClass.SIGNATURE_REJECTED
    if status_code in DOWN_STATUSES:
        return FailureClass.DESTINATION_DOWN
    if 400 <= status_code < 500:
        return FailureClass.REJECTED
    return FailureClass.SERVER_ERROR


def hint(failure_class: str) -> str:
    return HINTS.get(failure_class, "")


def strategy_for(failure_class: str, *, destination_overrides: dict | None = None,
                 source_overrides: dict | None = None) -> Strategy:
    """The destination's override wins (it knows its receiver), then the source's, then the class default."""
    for overrides in (destination_overrides, source_overrides):
        value = (overrides or {}).get(failure_class)
        if value in Strategy._value2member_map_:
            return Strategy(value)
    return DEFAULT_STRATEGIES.get(failure_class, Strategy.HOLD)


def validate_strategies(value) -> dict[str, str]:
    """A ``{class: strategy}`` override map; raises ValueError naming the bad entry."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValueError("an object mapping failure classes to strategies")
    out = {}
    for key, strategy in value.items():
        if key not in FailureClass.values:
            raise ValueError(f"{key!r} is not a failure class ({', '.join(FailureClass.values)})")
        if strategy not in Strategy._value2member_map_:
            raise ValueError(f"{strategy!r} is not a strategy ({', '.join(s.value for s in Strategy)})")
        out[key] = strategy
    return out


# --- signatures -------------------------------------------------------------------------------

_PREFIX = re.compile(r"^gave up after \d+ attempts?:\s*", re.I)
_PATTERNS = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", re.I), "<ts>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(\.\d+)?Z?\b"), "<ts>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b(evt|msg|req|ch|pi|in|cus|sub|whk|id)_[A-Za-z0-9]+\b"), "<id>"),
    (re.compile(r"\b(0x)?[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b|\b(0x)?[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b", re.I), "<hex>"),
    (re.compile(r"\d+(\.\d+)?"), "#"),
    (re.compile(r"\s+"), " "),
]
SIGNATURE_TEXT_CHARS = 200


def normalise_error(text: str) -> str:
    """The error with what varies per item stripped: digits, ids, hex, timestamps, whitespace runs."""
    out = _PREFIX.sub("", text or "").strip()
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out.strip().lower()[:SIGNATURE_TEXT_CHARS]


def group_signature(*, destination_id: int | None, failure_class: str, status_code: int | None, error: str) -> tuple[str, str]:
    """(signature, normalised text): one DLQ "issue" per destination + class + status code + normalised error."""
    text = normalise_error(error)
    key = f"{destination_id or 0}|{failure_class}|{status_code or '-'}|{text}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16], text
