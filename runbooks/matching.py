"""Label matchers (Alertmanager semantics) and how specific a set of them is.

A matcher is ``{"label", "op", "value"}`` with op ``=``, ``!=``, ``=~``, ``!~``.
Regexes are anchored (the whole value must match), a missing label counts as
the empty string, and every matcher of a runbook must hold. A runbook with no
matchers matches nothing: it is attached by hand or by ``runbook_url``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from django.core.exceptions import ValidationError

OPS = ("=", "!=", "=~", "!~")
MAX_MATCHERS = 30
MAX_VALUE = 500
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,99}")


@lru_cache(maxsize=512)
def _regex(value: str) -> re.Pattern:
    return re.compile(value)


def clean_matchers(raw) -> list[dict]:
    """Validated, normalised matchers; raises ValidationError naming the bad entry."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationError('matchers must be a list of {"label", "op", "value"} objects')
    if len(raw) > MAX_MATCHERS:
        raise ValidationError(f"at most {MAX_MATCHERS} matchers")
    cleaned = []
    for position, item in enumerate(raw):
        where = f"matcher {position + 1}"
        if not isinstance(item, Mapping) or set(item) - {"label", "op", "value"}:
            raise ValidationError(f'{where}: must be an object with exactly "label", "op" and "value"')
        label, op, value = item.get("label"), item.get("op", "="), item.get("value", "")
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            raise ValidationError(f"{where}: label must be a Prometheus label name")
        if op not in OPS:
            raise ValidationError(f"{where}: op must be one of {', '.join(OPS)}")
        if not isinstance(value, str) or len(value) > MAX_VALUE:
            raise ValidationError(f"{where}: value must be a string of at most {MAX_VALUE} characters")
        if op in ("=~", "!~"):
            try:
                _regex(value)
            except re.error as exc:
                raise ValidationError(f"{where}: invalid regular expression: {exc}") from exc
        cleaned.append({"label": label, "op": op, "value": value})
    return cleaned


def in_order(matchers: Iterable[Mapping]) -> list[dict]:
    """label, op, value — the reading order (jsonb stores keys in its own order)."""
    return [{"label": m["label"], "op": m["op"], "value": m["value"]} for m in matchers or []]


def matcher_holds(matcher: Mapping, labels: Mapping[str, str]) -> bool:
    actual = str(labels.get(matcher["label"], ""))
    op, value = matcher["op"], matcher["value"]
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    try:
        found = _regex(value).fullmatch(actual) is not None
    except re.error:
        return False  # stored before validation existed: never match, never crash
    return found if op == "=~" else not found


def matches(matchers: Iterable[Mapping], labels: Mapping[str, str]) -> bool:
    matchers = list(matchers or [])
    return bool(matchers) and all(matcher_holds(m, labels) for m in matchers)


def specificity(matchers: Iterable[Mapping]) -> tuple[int, int, int]:
    """Sort key, larger is more specific: exact matches weigh most, then regexes, then negations."""
    matchers = list(matchers or [])
    exact = sum(1 for m in matchers if m["op"] == "=")
    regex = sum(1 for m in matchers if m["op"] == "=~")
    negative = sum(1 for m in matchers if m["op"] in ("!=", "!~"))
    return exact, regex, negative


def format_matchers(matchers: Iterable[Mapping]) -> str:
    """``{alertname="X", env=~"prod.*"}`` — how Alertmanager writes them."""
    return "{" + ", ".join(f'{m["label"]}{m["op"]}"{m["value"]}"' for m in matchers or []) + "}"
