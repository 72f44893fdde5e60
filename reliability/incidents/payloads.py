"""Validation of what senders post: Alertmanager webhook v4 and PagerDuty Events API v2.

Interface code: turns a parsed JSON body into the intake's ``GroupIn`` or
raises ``PayloadError`` naming the field (answered 400 problem+json; nothing
stored).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from reliability.incidents.models import AlertSource
from reliability.incidents.services.intake import AlertIn, GroupIn

MAX_ALERTS = 5000
MAX_KEY = 512
_FRACTION = re.compile(r"(\.\d{6})\d+")
_ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _clean(value: str) -> str:
    return value.replace("\x00", "\ufffd")


def _same(obj):
    return obj


def _no_nul(obj):
    """jsonb refuses NUL (and lone surrogates never reach here: the JSON parser rejects them)."""
    if isinstance(obj, str):
        return _clean(obj)
    if isinstance(obj, dict):
        return {_clean(str(k)): _no_nul(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_no_nul(v) for v in obj]
    return obj


def _has_nul(obj) -> bool:
    """One C-speed pass over the body: JSON writes every NUL (in a key or a value) as \\u0000."""
    return "\\u0000" in json.dumps(obj)


def _str_map(value, field: str, *, values_any: bool = False, nul: bool = True) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(field, "must be an object")
    if not nul and (values_any or all(type(v) is str for v in value.values())):
        return value  # nothing to clean and every value valid: the parsed object as is
    out = {}
    for k, v in value.items():
        if not isinstance(v, str) and not values_any:
            raise PayloadError(f"{field}.{k}", "must be a string")
        out[_clean(k)] = _no_nul(v)
    return out


def parse_time(value, field: str, *, required: bool = False) -> datetime | None:
    if value in (None, "", _ZERO_TIME) or (isinstance(value, str) and value.startswith("0001-01-01")):
        if required:
            raise PayloadError(field, "is required (RFC 3339)")
        return None
    if not isinstance(value, str):
        raise PayloadError(field, "must be an RFC 3339 timestamp")
    try:
        at = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        raise PayloadError(field, f"{value[:40]!r} is not an RFC 3339 timestamp") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def group_key_of(raw: str) -> str:
    """Long keys keep a readable head and a hash, inside the column."""
    raw = _clean(raw)
    if len(raw) <= MAX_KEY:
        return raw
    return raw[:MAX_KEY - 72] + "…sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def fingerprint_of(labels: dict) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_alertmanager(body) -> GroupIn:
    """Alertmanager's webhook payload, version 4."""
    if not isinstance(body, dict):
        raise PayloadError("body", "must be a JSON object")
    version = body.get("version")
    if str(version) != "4":
        raise PayloadError("version", f"must be \"4\" (got {version!r})")
    group_key = body.get("groupKey")
    if not isinstance(group_key, str) or not group_key.strip():
        raise PayloadError("groupKey", "must be a non-empty string")
    if body.get("status") not in ("firing", "resolved"):
        raise PayloadError("status", "must be \"firing\" or \"resolved\"")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("alerts", "must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError("alerts", f"at most {MAX_ALERTS} alerts per notification")
    nul = _has_nul(body)  # almost never: then every string is cleaned, else used as parsed
    clean = _clean if nul else _same
    no_nul = _no_nul if nul else _same
    times: dict = {}  # the alerts of a notification mostly share their timestamps

    def when(value, field):
        if isinstance(value, str):
            if value not in times:
                times[value] = parse_time(value, field)
            return times[value]
        return parse_time(value, field)

    parsed = []
    for i, a in enumerate(alerts):
        if not isinstance(a, dict):
            raise PayloadError(f"alerts[{i}]", "must be an object")
        status = a.get("status")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{i}].status", "must be \"firing\" or \"resolved\"")
        labels = _str_map(a.get("labels"), f"alerts[{i}].labels", nul=nul)
        if not labels:
            raise PayloadError(f"alerts[{i}].labels", "must be a non-empty object")
        fp = a.get("fingerprint")
        if fp is None or fp == "":
            fp = fingerprint_of(labels)
        if not isinstance(fp, str) or len(fp) > 255:
            raise PayloadError(f"alerts[{i}].fingerprint", "must be a string of at most 255 characters")
        gen = a.get("generatorURL", "")
        if not isinstance(gen, str):
            raise PayloadError(f"alerts[{i}].generatorURL", "must be a string")
        parsed.append(AlertIn(
            fingerprint=clean(fp), status=status, labels=labels,
            annotations=_str_map(a.get("annotations"), f"alerts[{i}].annotations", nul=nul),
            starts_at=when(a.get("startsAt"), f"alerts[{i}].startsAt"),
            ends_at=when(a.get("endsAt"), f"alerts[{i}].endsAt"), generator_url=clean(gen), raw=no_nul(a),
        ))
    external = body.get("externalURL", "")
    return GroupIn(
        source=AlertSource.ALERTMANAGER, group_key=group_key_of(group_key), alerts=parsed,
        group_labels=_str_map(body.get("groupLabels"), "groupLabels"),
        common_labels=_str_map(body.get("commonLabels"), "commonLabels"),
        common_annotations=_str_map(body.get("commonAnnotations"), "commonAnnotations"),
        external_url=_clean(external) if isinstance(external, str) else "",
    )


# --- PagerDuty Events API v2 ---------------------------------------------------------------

EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
EVENT_SEVERITIES = ("critical", "error", "warning", "info")


@dataclass
class EventIn:
    action: str
    dedup_key: str
    group: GroupIn | None  # trigger and resolve


def _opt_str(payload: dict, key: str, field: str, limit: int = 1024) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(field, "must be a string")
    if len(value) > limit:
        raise PayloadError(field, f"at most {limit} characters")
    return _clean(value)


def parse_event(body) -> EventIn:
    """A PagerDuty Events API v2 event (``routing_key`` is accepted and ignored: the bearer token routes)."""
    if not isinstance(body, dict):
        raise PayloadError("body", "must be a JSON object")
    action = body.get("event_action")
    if action not in EVENT_ACTIONS:
        raise PayloadError("event_action", f"must be one of {', '.join(EVENT_ACTIONS)}")
    dedup = body.get("dedup_key")
    if dedup is not None and not isinstance(dedup, str):
        raise PayloadError("dedup_key", "must be a string")
    if dedup is not None and (len(dedup) > 255 or (not dedup.strip() and action != "trigger")):
        raise PayloadError("dedup_key", "must be 1 to 255 characters")
    if action != "trigger" and not dedup:
        raise PayloadError("dedup_key", f"is required for {action}")
    dedup = _clean(dedup) if dedup else uuid.uuid4().hex
    if action == "acknowledge":
        return EventIn(action=action, dedup_key=dedup, group=None)
    group_key = group_key_of(f"events:{dedup}")
    if action == "resolve":
        alert = AlertIn(fingerprint=dedup, status="resolved", labels={"dedup_key": dedup}, raw=_no_nul(body))
        return EventIn(action=action, dedup_key=dedup,
                       group=GroupIn(source=AlertSource.EVENTS, group_key=group_key, alerts=[alert],
                                     dedup_key=dedup, reopen=False))
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise PayloadError("payload", "is required for trigger and must be an object")
    summary = _opt_str(payload, "summary", "payload.summary")
    if not summary.strip():
        raise PayloadError("payload.summary", "is required (1 to 1024 characters)")
    source = _opt_str(payload, "source", "payload.source", 255)
    if not source.strip():
        raise PayloadError("payload.source", "is required")
    severity = payload.get("severity")
    if severity not in EVENT_SEVERITIES:
        raise PayloadError("payload.severity", f"must be one of {', '.join(EVENT_SEVERITIES)}")
    timestamp = parse_time(payload.get("timestamp"), "payload.timestamp")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, (dict, list, str, int, float, bool)):
        raise PayloadError("payload.custom_details", "must be JSON")
    links = body.get("links", [])
    if not isinstance(links, list) or any(not isinstance(x, dict) or not isinstance(x.get("href"), str) for x in links):
        raise PayloadError("links", "must be a list of {href, text}")
    images = body.get("images", [])
    if not isinstance(images, list):
        raise PayloadError("images", "must be a list")
    labels = {"dedup_key": dedup, "severity": severity, "source": source}
    for key in ("component", "group", "class"):
        value = _opt_str(payload, key, f"payload.{key}", 255)
        if value:
            labels[key] = value
    client_url = body.get("client_url", "")
    annotations = {"summary": summary}
    if details is not None:
        annotations["custom_details"] = _no_nul(details)
    if links:
        annotations["links"] = _no_nul(links)
    alert = AlertIn(fingerprint=dedup, status="firing", labels=labels, annotations=annotations,
                    starts_at=timestamp, generator_url=client_url if isinstance(client_url, str) else "",
                    raw=_no_nul(body))
    return EventIn(action=action, dedup_key=dedup, group=GroupIn(
        source=AlertSource.EVENTS, group_key=group_key, alerts=[alert], group_labels={"dedup_key": dedup},
        common_labels=labels, common_annotations={"summary": summary}, title=summary, dedup_key=dedup,
        reopen=False))
