"""The breakers app's names, in one spelling: audit actions and outbox event types.

Services pass these members instead of string literals (a member *is* its string,
so stored values, audit filters and channel groups are unchanged). ``Action``
values are ``AuditEntry.action``; ``Event`` values are outbox event types, whose
first word ``breaker`` picks the dashboard group (``ops.breaker``) and which
outbound webhook subscribers match on. Both sets are public contracts: never
rename a value, add new ones.

Automatic transitions use the same past-tense word for the audit action and the
event (``breaker.opened``): nobody acted, something happened.
"""

from __future__ import annotations

import enum


class Action(enum.StrEnum):
    """Audit actions written by the breakers services."""

    REGISTER = "breaker.register"  # a name used in code (or added by an operator) gets its row
    CONFIGURE = "breaker.configure"
    FORCE_OPEN = "breaker.force_open"
    FORCE_CLOSE = "breaker.force_close"
    RESET = "breaker.reset"
    DISABLE = "breaker.disable"
    OPENED = "breaker.opened"  # automatic transitions (system actor "breaker")
    HALF_OPENED = "breaker.half_opened"
    CLOSED = "breaker.closed"


class Event(enum.StrEnum):
    """Outbox event types emitted by the breakers services."""

    REGISTERED = "breaker.registered"
    CONFIGURED = "breaker.configured"
    OPENED = "breaker.opened"
    HALF_OPENED = "breaker.half_opened"
    CLOSED = "breaker.closed"  # automatic close after probes, and a manual force-close
    FORCED_OPEN = "breaker.forced_open"
    RESET = "breaker.reset"
    DISABLED = "breaker.disabled"
