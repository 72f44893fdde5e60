"""Metric names the dashboards query that the portal does not export yet, and the recording rules.

The lead checks ``PENDING_METRICS`` at integration: once the owning branch has
landed, each name must appear in the live ``/metrics`` exposition and be
removed from here (``tests/dashboard/test_grafana.py`` fails on a pending name
that is already exported, so the list cannot go stale).
"""

from __future__ import annotations

# name → (Prometheus type, owner, labels). Histograms are queried through _bucket/_sum/_count.
PENDING_METRICS: dict[str, tuple[str, str, tuple[str, ...]]] = {}  # every queried metric is exported now

# Recorded by Prometheus from the rules `manage.py export_slo_rules` writes (owner: slos), Sloth's
# names; they never appear in the portal's /metrics. Label `slo` (the SLO slug) is assumed.
RECORDING_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "slo:sli_error:ratio_rate5m": ("slos", ("slo",)),
    "slo:objective:ratio": ("slos", ("slo",)),
    "slo:error_budget:ratio": ("slos", ("slo",)),
}


def series_names(name: str, kind: str) -> set[str]:
    """The series names a metric family of ``kind`` exposes (what a query may name)."""
    if kind == "histogram":
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    if kind == "summary":
        return {name, f"{name}_sum", f"{name}_count"}
    return {name}


def pending_series() -> dict[str, str]:
    """Queryable series name → the pending metric it belongs to."""
    return {series: name for name, (kind, _, _) in PENDING_METRICS.items() for series in series_names(name, kind)}
