"""Degradation levels: computed from probes and breakers, overridable by an operator.

Public contract (HELPERS.md, DESIGN §7.5)::

    from reliability.health.degradation import Level, current_level
    if current_level() >= Level.SEVERE: ...

``current_level()`` is cheap: a process-local copy refreshed at most every
``DEGRADATION_CACHE_SECONDS`` (5 s) from the Django cache, which the beat evaluator and
the override services write, so every process agrees. See docs/health.md, "Degradation".
"""

from __future__ import annotations

from reliability.health.degradation.levels import Level
from reliability.health.degradation.state import current_level

__all__ = ["Level", "current_level"]
