"""Prometheus metrics of the degradation level."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# The effective level as this process sees it (0 NORMAL … 4 CRITICAL).
DEGRADATION_LEVEL = Gauge("system_degradation_level", "Effective degradation level (0 NORMAL … 4 CRITICAL)",
                          multiprocess_mode="max")
# One per recorded transition; cause: computed, override_set, override_cleared, override_expired.
DEGRADATION_EVENTS = Counter("degradation_events", "Degradation level transitions by target level and cause",
                             ["to", "cause"])
