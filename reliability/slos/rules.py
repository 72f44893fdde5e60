"""Prometheus recording and alerting rules for SLOs with a Prometheus SLI (Sloth-compatible names).

The SLO's ``prometheus_good_query`` and ``prometheus_total_query`` are templates with a
``{{.window}}`` placeholder giving per-second rates, as in Sloth:
``sum(rate(http_requests_total{job="api",code!~"5.."}[{{.window}}]))``.

Per SLO: ``slo:sli_error:ratio_rate<W>`` for every tier window and 5m, the period window as the
average of the 5m ratio (Sloth's way), ``slo:objective:ratio``, ``slo:error_budget:ratio``,
``slo:time_period:days``, ``slo:current_burn_rate:ratio``, ``slo:period_burn_rate:ratio``,
``slo:period_error_budget_remaining:ratio``, ``sloth_slo_info``; alerts: one page and one ticket
alert (each the OR of its tiers' "both windows over the factor"), and an absent-data alert.
Labels: Sloth's ``sloth_id``, ``sloth_service``, ``sloth_slo``, ``sloth_window`` plus ours:
``slo`` (the slug), ``service`` and the SLO's own labels. Calendar windows are exported as their
nominal length (30 d, 90 d): PromQL has no calendar ranges.
"""

from __future__ import annotations

import re

import yaml

from reliability.slos import windows
from reliability.slos.models import SLO

PLACEHOLDER = re.compile(r"\{\{\s*\.window\s*\}\}")


def _q(query: str, window: str) -> str:
    return PLACEHOLDER.sub(window, query)


def _sel(labels: dict) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _fmt(x: float) -> str:
    return repr(round(x, 12))


def slo_rule_groups(slo: SLO, tiers) -> list[dict]:
    ident = f"{slo.service.name}-{slo.slug}"
    sloth = {"sloth_id": ident, "sloth_service": slo.service.name, "sloth_slo": slo.slug}
    ours = {"slo": slo.slug, "service": slo.service.name, **{k: v for k, v in (slo.labels or {}).items()
                                                          if k not in ("slo", "service") and not k.startswith("sloth_")}}
    period_days = windows.NOMINAL_DAYS[slo.window]
    period = f"{period_days}d"
    tier_windows = {m for t in tiers for m in (t.long_window_minutes, t.short_window_minutes)}
    rec_windows = sorted(tier_windows | {5})
    good, total = slo.prometheus_good_query.strip(), slo.prometheus_total_query.strip()
    sli = []
    for minutes in rec_windows:
        w = windows.label(minutes)
        sli.append({"record": f"slo:sli_error:ratio_rate{w}",
                    "expr": f"1 - (({_q(good, w)}) / ({_q(total, w)}))\n",
                    "labels": {**sloth, "sloth_window": w, **ours}})
    sel = _sel(sloth)
    sli.append({"record": f"slo:sli_error:ratio_rate{period}",
                "expr": f"sum_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n"
                        f"/ ignoring (sloth_window)\ncount_over_time(slo:sli_error:ratio_rate5m{sel}[{period}])\n",
                "labels": {**sloth, "sloth_window": period, **ours}})
    objective = float(slo.objective) / 100
    on = "on(sloth_id, sloth_slo, sloth_service) group_left"
    meta = [
        {"record": "slo:objective:ratio", "expr": f"vector({_fmt(objective)})", "labels": {**sloth, **ours}},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1 - {_fmt(objective)})", "labels": {**sloth, **ours}},
        {"record": "slo:time_period:days", "expr": f"vector({period_days})", "labels": {**sloth, **ours}},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate5m{sel}\n/ {on}\nslo:error_budget:ratio{sel}\n", "labels": {**sloth, **ours}},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{period}{sel}\n/ {on}\nslo:error_budget:ratio{sel}\n",
         "labels": {**sloth, **ours}},
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{sel}",
         "labels": {**sloth, **ours}},
        {"record": "sloth_slo_info", "expr": "vector(1)",
         "labels": {**sloth, **ours, "sloth_objective": _fmt(float(slo.objective)), "sloth_mode": "opsportal-export"}},
    ]
    budget = 1 - objective
    alerts = []
    for severity, label in (("page", "critical"), ("ticket", "info")):
        chosen = [t for t in tiers if t.severity == severity]
        if not chosen:
            continue
        parts = []
        for t in chosen:
            long_w, short_w = windows.label(t.long_window_minutes), windows.label(t.short_window_minutes)
            threshold = f"({_fmt(t.factor)} * {_fmt(budget)})"
            parts.append(f"(\n  max(slo:sli_error:ratio_rate{short_w}{sel} > {threshold}) without (sloth_window)\n"
                         f"  and\n  max(slo:sli_error:ratio_rate{long_w}{sel} > {threshold}) without (sloth_window)\n)")
        rule = {"alert": "SLOErrorBudgetBurn" + severity.capitalize(), "expr": "\nor\n".join(parts) + "\n",
                "labels": {"severity": label, "sloth_severity": severity, **ours},
                "annotations": {"summary": f"SLO {slo.slug} is burning its error budget too fast ({severity} tier)",
                                "title": f"({severity}) " "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error "
                                         "budget burn rate is over expected."}}
        hold = min(t.for_seconds for t in chosen)
        if hold:
            rule["for"] = f"{hold}s"
        alerts.append(rule)
    absent_minutes = slo.policy.absent_minutes or 15
    alerts.append({"alert": "SLOSLIDataAbsent", "expr": f"absent({_q(total, '5m')})\n", "for": f"{absent_minutes}m",
                   "labels": {"severity": "warning", **ours},
                   "annotations": {"summary": f"SLO {slo.slug}: its SLI query returns no data"}})
    # One group per SLO (Sloth writes three): rules of a group run in order, so the alerts read the
    # recordings of the same evaluation. Across groups the order is not defined (promtool evaluates them
    # in random order), which would make an alert fire one interval early or late.
    return [{"name": f"sloth-slo-{ident}", "rules": sli + meta + alerts}]


def rules_document(slos) -> dict:
    groups = []
    for slo in slos:
        groups += slo_rule_groups(slo, list(slo.policy.tiers.order_by("long_window_minutes")))
    return {"groups": groups}


def rules_yaml(slos) -> str:
    header = "# Generated by `manage.py export_slo_rules` (opsportal). Do not edit: change the SLO and re-export.\n"
    return header + yaml.safe_dump(rules_document(slos), sort_keys=False, width=200)
