"""The dashboards as Grafana JSON models (schemaVersion 39, Grafana 11)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # deploy/grafana/provisioning/datasources
RATE = "$__rate_interval"


class _Layout:
    """Places panels left to right on Grafana's 24-column grid; a row starts a new line."""

    def __init__(self) -> None:
        self.panels: list[dict] = []
        self.x = self.y = 0
        self.line_h = 0

    def _next_id(self) -> int:
        return len(self.panels) + 1

    def row(self, title: str) -> None:
        if self.x:
            self.y += self.line_h
        self.panels.append({"id": self._next_id(), "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.x, self.y, self.line_h = 0, self.y + 1, 0

    def add(self, panel: dict, *, w: int, h: int = 8) -> None:
        if self.x + w > 24:
            self.x, self.y, self.line_h = 0, self.y + self.line_h, 0
        panel = {"id": self._next_id(), **panel, "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h}}
        self.panels.append(panel)
        self.x += w
        self.line_h = max(self.line_h, h)


def _targets(*queries: tuple[str, str]) -> list[dict]:
    return [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
             "range": True} for i, (expr, legend) in enumerate(queries)]


def timeseries(title: str, *queries: tuple[str, str], unit: str = "short", description: str = "",
               thresholds: list[tuple[float, str]] | None = None, stack: bool = False) -> dict:
    defaults: dict = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                                               "showPoints": "never", "stacking": {"mode": "normal" if stack else "none"}}}
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None}] + [
            {"color": color, "value": value} for value, color in thresholds]}
        defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
    return {"type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
            "targets": _targets(*queries), "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title: str, *queries: tuple[str, str], unit: str = "short", description: str = "",
         thresholds: list[tuple[float, str]] | None = None, base: str = "green", mappings: list | None = None) -> dict:
    steps = [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in (thresholds or [])]
    return {"type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
            "targets": [{**t, "instant": True, "range": False} for t in _targets(*queries)],
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                         "thresholds": {"mode": "absolute", "steps": steps}}, "overrides": []},
            "options": {"colorMode": "background", "graphMode": "area", "justifyMode": "auto", "textMode": "auto",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}


def _dashboard(uid: str, title: str, description: str, layout: _Layout, *, tags: list[str],
               variables: list[dict] | None = None) -> dict:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["opsportal", *tags],
        "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": False, "graphTooltip": 1,
        "timezone": "browser", "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "timepicker": {}, "links": [], "fiscalYearStartMonth": 0, "liveNow": False,
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "templating": {"list": variables or []},
        "panels": layout.panels,
    }


def _query_variable(name: str, label: str, query: str) -> dict:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query,
            "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0}


# --- SLO overview ----------------------------------------------------------------------------


def slo_overview() -> dict:
    sel = '{slo=~"$slo"}'
    lay = _Layout()
    lay.row("Error budget")
    lay.add(stat("Error budget remaining", (f"slo_error_budget_remaining_ratio{sel}", "{{slo}}"),
                 unit="percentunit", base="red", thresholds=[(0.25, "orange"), (0.5, "green")],
                 description="Share of the SLO window's error budget still unspent (1 = untouched, ≤ 0 = exhausted)."),
            w=8)
    lay.add(timeseries("Error budget remaining over time", (f"slo_error_budget_remaining_ratio{sel}", "{{slo}}"),
                       unit="percentunit"), w=16)
    lay.row("Burn rate")
    lay.add(timeseries("Burn rate by window", (f"slo_burn_rate{sel}", "{{slo}} {{window}}"),
                       thresholds=[(1, "yellow"), (3, "orange"), (6, "red"), (14.4, "dark-red")],
                       description="Error ratio over the window ÷ (1 − objective). Page tiers: 1h/5m × 14.4, "
                                   "6h/30m × 6; ticket tiers: 1d/2h × 3, 3d/6h × 1."), w=16)
    lay.add(stat("Fastest burn (1h)", ('max by (slo) (slo_burn_rate{slo=~"$slo", window="1h"})', "{{slo}}"),
                 thresholds=[(6, "orange"), (14.4, "red")]), w=8)
    lay.row("Prometheus SLIs (recording rules from export_slo_rules)")
    lay.add(timeseries("SLI error ratio (5m)", (f"slo:sli_error:ratio_rate5m{sel}", "{{slo}}"),
                       (f"1 - slo:objective:ratio{sel}", "{{slo}} allowed"), unit="percentunit",
                       description="Sloth-compatible recording rules; only SLOs with a Prometheus SLI have them."), w=12)
    lay.add(timeseries("Objective and error budget", (f"slo:objective:ratio{sel}", "{{slo}} objective"),
                       (f"slo:error_budget:ratio{sel}", "{{slo}} budget"), unit="percentunit"), w=12)
    lay.row("Evaluator")
    lay.add(timeseries("Evaluation cycle duration (mean)",
                       (f"rate(slo_evaluation_duration_seconds_sum[{RATE}]) / "
                        f"rate(slo_evaluation_duration_seconds_count[{RATE}])", "mean"),
                       unit="s", thresholds=[(2, "red")], description="Target: under 2 s per cycle."), w=12)
    lay.add(timeseries("Evaluation cycles per minute", (f"60 * rate(slo_evaluation_duration_seconds_count[{RATE}])",
                                                        "cycles/min")), w=12)
    return _dashboard("opsportal-slo-overview", "opsportal — SLO overview",
                      "Error budgets and burn rates of the portal's SLOs.", lay, tags=["slo"],
                      variables=[_query_variable("slo", "SLO", "label_values(slo_error_budget_remaining_ratio, slo)")])


# --- the portal's own panels -------------------------------------------------------------------


def portal() -> dict:
    lay = _Layout()
    lay.row("Circuit breakers")
    lay.add(timeseries("Breaker state", ("max by (breaker) (circuit_breaker_state)", "{{breaker}}"),
                       thresholds=[(1, "red")],
                       description="0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled."), w=8)
    lay.add(timeseries("Transitions", (f"sum by (breaker, to) (increase(circuit_breaker_transitions_total[{RATE}]))",
                                       "{{breaker}} → {{to}}")), w=8)
    lay.add(timeseries("Failure ratio", (f"sum by (breaker) (rate(circuit_breaker_failures_total[{RATE}])) / "
                                         f"sum by (breaker) (rate(circuit_breaker_requests_total[{RATE}]))",
                                         "{{breaker}}"), unit="percentunit"), w=8)
    lay.row("Dead-letter queue")
    lay.add(stat("DLQ depth", ("sum(dlq_messages_total)", "open items"), thresholds=[(1, "orange"), (100, "red")]),
            w=6)
    lay.add(timeseries("Added to the DLQ", (f"sum by (destination) (increase(dlq_messages_added_total[{RATE}]))",
                                            "{{destination}}"), stack=True), w=9)
    lay.add(timeseries("Retried from the DLQ", (f"sum by (source) (increase(dlq_retries_total[{RATE}]))",
                                                "{{source}}"), stack=True), w=9)
    lay.row("Webhooks")
    lay.add(timeseries("Ingested by result", (f"sum by (result) (rate(webhook_ingest_total[{RATE}]))", "{{result}}"),
                       unit="reqps", stack=True), w=8)
    lay.add(timeseries("Ingest latency p99", (
        f"histogram_quantile(0.99, sum by (le) (rate(webhook_ingest_duration_seconds_bucket[{RATE}])))", "p99"),
        unit="s"), w=8)
    lay.add(timeseries("Delivery attempts by result", (
        f"sum by (result) (rate(webhook_delivery_attempts_total[{RATE}]))", "{{result}}"),
        (f"sum(rate(webhook_delivery_deferred_total[{RATE}]))", "deferred (breaker open)"), unit="reqps"), w=8)
    lay.add(timeseries("Delivery latency p95 by destination", (
        f"histogram_quantile(0.95, sum by (le, destination) (rate(webhook_delivery_latency_seconds_bucket[{RATE}])))",
        "{{destination}}"), unit="s"), w=24)
    lay.row("Incidents")
    lay.add(stat("Open incidents", ("sum by (severity) (incidents_open)", "{{severity}}"),
                 thresholds=[(1, "orange")]), w=6)
    lay.add(timeseries("Opened by severity", (f"sum by (severity) (increase(incidents_total[{RATE}]))",
                                              "{{severity}}"), stack=True), w=9)
    lay.add(timeseries("Alerts received", (f"sum by (source, result) (rate(alerts_received_total[{RATE}]))",
                                           "{{source}} {{result}}"), unit="reqps"), w=9)
    lay.add(timeseries("MTTA / MTTR (median)", (
        "histogram_quantile(0.5, sum by (le) (rate(incident_ack_seconds_bucket[1d])))", "MTTA"),
        ("histogram_quantile(0.5, sum by (le) (rate(incident_resolve_seconds_bucket[1d])))", "MTTR"), unit="s"), w=12)
    lay.add(timeseries("Pages by channel and result", (
        f"sum by (channel, result) (increase(notifications_total[{RATE}]))", "{{channel}} {{result}}")), w=12)
    lay.row("Health")
    lay.add(timeseries("Health checks", ("max by (check) (health_check_status)", "{{check}}"),
                       thresholds=[(1, "orange"), (2, "red")], description="0 ok, 1 warn, 2 fail."), w=8)
    lay.add(timeseries("Check duration", ("max by (check) (health_check_duration_seconds)", "{{check}}"), unit="s"),
            w=8)
    lay.add(stat("Degradation level", ("max(system_degradation_level)", "level"),
                 thresholds=[(1, "yellow"), (2, "orange"), (3, "red")],
                 mappings=[{"type": "value", "options": {str(i): {"text": t, "index": i} for i, t in enumerate(
                     ["NORMAL", "MINOR", "MODERATE", "SEVERE", "CRITICAL"])}}]), w=8)
    lay.add(timeseries("Requests shed", (f"sum by (reason) (rate(requests_shed_total[{RATE}]))", "{{reason}}"),
                       unit="reqps"), w=12)
    lay.add(timeseries("Slow queries", (f"sum(rate(slow_queries_total[{RATE}]))", "slow queries/s")), w=12)
    return _dashboard("opsportal-portal", "opsportal — portal", "The portal's breakers, DLQ, webhooks, "
                      "incidents and health.", lay, tags=["portal"])


DASHBOARDS: dict[str, Callable[[], dict]] = {"opsportal-slo-overview": slo_overview, "opsportal-portal": portal}


def build_all() -> dict[str, dict]:
    """uid → dashboard JSON model."""
    return {uid: build() for uid, build in DASHBOARDS.items()}


def dashboard_queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            yield f"panel {panel.get('title')!r} {target.get('refId')}", target["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            yield f"variable {var['name']!r}", query
