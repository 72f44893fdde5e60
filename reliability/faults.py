"""Fault injection for outbound calls: the hook chaos drills set (DESIGN §7.8).

``reliability.http`` consults ``fault_for(target)`` before every call. A fault
adds latency, raises an error (``"timeout"``, ``"connect"`` or an HTTP status
such as 503), and fires with a probability. Every fault carries an expiry and
disappears on its own; a fault for ``"*"`` applies to every target without a
fault of its own.

State is per process for now; cross-process distribution arrives with the
chaos feature (docs/decisions.md). With no fault set, ``fault_for`` is a
truth test on an empty dict.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime

ANY_TARGET = "*"
ERROR_KINDS = ("timeout", "connect")

_faults: dict[str, Fault] = {}
_lock = threading.Lock()  # writers only; readers take a snapshot reference
_clock = time.time  # wall clock: expiries are absolute times; tests may replace it
_rng = random.Random()


@dataclass(frozen=True)
class Fault:
    """One active fault for a target (or ``"*"``)."""

    target: str
    expires_at: float  # epoch seconds
    latency_ms: int = 0
    error: str | int | None = None  # "timeout" | "connect" | HTTP status 400..599 | None
    probability: float = 1.0

    def fires(self, rng: random.Random | None = None) -> bool:
        """Whether this call is hit (probability 1 always, 0 never)."""
        if self.probability >= 1.0:
            return True
        return (rng or _rng).random() < self.probability

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "probability": self.probability,
            "expires_at": self.expires_at,
        }


def _validate_error(error: str | int | None) -> str | int | None:
    if error is None or error in ERROR_KINDS:
        return error
    if isinstance(error, int) and not isinstance(error, bool) and 400 <= error <= 599:
        return error
    raise ValueError(f"error must be None, 'timeout', 'connect' or an HTTP status 400-599, not {error!r}")


def fault_set(
    target: str,
    *,
    latency_ms: int = 0,
    error: str | int | None = None,
    probability: float = 1.0,
    expires_at: datetime | float,
) -> Fault:
    """Activate (or replace) the fault for ``target`` until ``expires_at`` (aware datetime or epoch seconds)."""
    if not target:
        raise ValueError("target is required ('*' for every target)")
    if latency_ms < 0:
        raise ValueError("latency_ms must be >= 0")
    if not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be within [0, 1]")
    error = _validate_error(error)
    if latency_ms == 0 and error is None:
        raise ValueError("a fault needs latency_ms or an error")
    if isinstance(expires_at, datetime):
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        expires = expires_at.timestamp()
    else:
        expires = float(expires_at)
    if expires <= _clock():
        raise ValueError("expires_at must be in the future")
    fault = Fault(target=target, expires_at=expires, latency_ms=int(latency_ms), error=error,
                  probability=float(probability))
    with _lock:
        _faults[target] = fault
    return fault


def fault_clear(target: str | None = None) -> None:
    """Remove the fault for ``target``, or every fault when ``target`` is None (the kill switch)."""
    with _lock:
        if target is None:
            _faults.clear()
        else:
            _faults.pop(target, None)


def _expire(target: str, fault: Fault) -> None:
    with _lock:
        if _faults.get(target) is fault:
            del _faults[target]


def fault_for(target: str) -> Fault | None:
    """The live fault for ``target`` (its own, else ``"*"``), dropping expired ones. Hot path."""
    if not _faults:
        return None
    fault = _faults.get(target) or _faults.get(ANY_TARGET)
    if fault is None:
        return None
    if fault.expires_at <= _clock():
        _expire(fault.target, fault)
        return fault_for(target) if fault.target != ANY_TARGET else None
    return fault


def faults_active() -> list[Fault]:
    """Every unexpired fault, expired ones pruned."""
    now = _clock()
    with _lock:
        for target in [t for t, f in _faults.items() if f.expires_at <= now]:
            del _faults[target]
        return sorted(_faults.values(), key=lambda f: f.target)
