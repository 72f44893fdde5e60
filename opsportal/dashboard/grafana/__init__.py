"""Grafana dashboards for the portal, written by ``manage.py export_grafana_dashboards``.

Two dashboards, provisioned from ``deploy/grafana/dashboards/`` (see
``deploy/grafana/provisioning/``) against the Prometheus datasource of uid
``prometheus``:

- ``opsportal-slo-overview``: error budget and burn panels on the SLO
  metrics (``slo_error_budget_remaining_ratio{slo}``,
  ``slo_burn_rate{slo,window}``, ``slo_evaluation_duration_seconds``) and the
  Sloth-compatible recording rules that ``export_slo_rules`` writes;
- ``opsportal-portal``: breakers, DLQ, webhooks, incidents and health.

The JSON is built from plain dicts here (no Grafana SDK) and is deterministic:
the same code writes the same bytes, so the committed files can be checked.
``promql.metric_names`` extracts what each query reads; the tests check every
name against the live ``/metrics`` exposition plus ``PENDING_METRICS``.
"""

from opsportal.dashboard.grafana.dashboards import DASHBOARDS, build_all, dashboard_queries
from opsportal.dashboard.grafana.metrics import PENDING_METRICS, RECORDING_RULES

__all__ = ["DASHBOARDS", "PENDING_METRICS", "RECORDING_RULES", "build_all", "dashboard_queries"]
