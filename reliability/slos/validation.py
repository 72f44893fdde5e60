"""Validation of SLO definitions and tiers with clear reasons (raised as Django ValidationError)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from reliability.slos import windows
from reliability.slos.models import SLO

INTERNAL_SLI = re.compile(r"webhook-delivery:\S(.*\S)?|ingestion|alert-to-incident")


def clean_objective(value) -> Decimal:
    try:
        objective = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValidationError({"objective": ["the objective is a percentage, e.g. 99.9"]}) from exc
    if not objective.is_finite() or not Decimal(0) < objective < Decimal(100):
        raise ValidationError({"objective": ["the objective must be above 0 and below 100 (percent)"]})
    if objective.as_tuple().exponent < -4:
        raise ValidationError({"objective": ["at most four decimals (e.g. 99.9999)"]})
    return objective


def clean_definition(fields: dict) -> dict:
    """Check the fields of an SLO (create or update, merged with the stored values)."""
    errors: dict[str, list[str]] = {}
    try:
        fields["objective"] = clean_objective(fields.get("objective"))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if fields.get("window") not in SLO.Window.values:
        errors["window"] = [f"the window must be one of {', '.join(SLO.Window.values)}"]
    try:
        windows.zone(fields.get("timezone") or "UTC")
    except ValueError as exc:
        errors["timezone"] = [str(exc)]
    if fields.get("sli") == SLO.SLI.LATENCY and not fields.get("latency_threshold_ms"):
        errors["latency_threshold_ms"] = ["a latency SLI needs its threshold (milliseconds)"]
    if fields.get("budgeting") == SLO.Budgeting.TIMESLICES:
        target = fields.get("timeslice_target")
        try:
            target_ok = target is not None and Decimal(0) < Decimal(str(target)) <= Decimal(100)
        except (InvalidOperation, ValueError):
            target_ok = False
        if not target_ok:
            errors["timeslice_target"] = ["the timeslice target is a percentage in (0, 100]"]
        if not 1 <= int(fields.get("timeslice_minutes") or 0) <= 60:
            errors["timeslice_minutes"] = ["a timeslice is 1 to 60 minutes"]
    if fields.get("sli_source") == SLO.Source.PROMETHEUS and not (
            (fields.get("prometheus_good_query") or "").strip() and (fields.get("prometheus_total_query") or "").strip()):
        errors["prometheus_good_query"] = ["a Prometheus SLI needs both the good and the total query"]
    elif fields.get("sli_source") == SLO.Source.PROMETHEUS:
        for key in ("prometheus_good_query", "prometheus_total_query"):
            if "{{.window}}" not in fields[key].replace(" ", ""):
                errors[key] = ["a per-second rate with a {{.window}} placeholder, e.g. "
                               "sum(rate(http_requests_total{code!~\"5..\"}[{{.window}}]))"]
    if fields.get("sli_source") == SLO.Source.INTERNAL and not INTERNAL_SLI.fullmatch(fields.get("internal_sli") or ""):
        errors["internal_sli"] = ["an internal SLI is webhook-delivery:<destination name>, ingestion or alert-to-incident"]
    labels = fields.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        errors["labels"] = ["labels are an object of string values"]
    elif any(not k.isidentifier() or k.startswith("__") for k in labels):
        errors["labels"] = ["label names are identifiers (letters, digits, underscores) not starting with __"]
    if errors:
        raise ValidationError(errors)
    return fields


def clean_tier(*, objective, factor, long_window_minutes, short_window_minutes, prefix: str = "") -> None:
    problem = windows.tier_problem(objective=float(objective), factor=float(factor), long_minutes=int(long_window_minutes),
                                   short_minutes=int(short_window_minutes))
    if problem:
        raise ValidationError({f"{prefix}factor" if "burn" in problem else f"{prefix}windows": [problem]})


def prometheus_retention_warning(*, window: str, retention_text: str) -> str | None:
    """A warning when Prometheus keeps less history than the SLO window needs ('15d' vs 30 days)."""
    try:
        retention = windows.parse_duration(retention_text.strip().split(" ")[0].replace("y", "").rstrip("s") or "0")
    except ValueError:
        return None
    needed = windows.window_minutes(window)
    if retention < needed:
        return (f"Prometheus keeps {retention_text.strip()} of data but the SLO window is {window}: "
                "the budget cannot be recomputed from Prometheus after a gap")
    return None
