"""Prometheus metrics of load shedding."""

from __future__ import annotations

from prometheus_client import Counter

# reason: non_critical (level ≥ SEVERE), intake_concurrency (CRITICAL, over the cap),
# rate_limit_token, rate_limit_user.
REQUESTS_SHED = Counter("requests_shed", "Requests refused by load shedding or rate limits", ["reason"])
