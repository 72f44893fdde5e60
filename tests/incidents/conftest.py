"""Helpers for incident tests: Alertmanager-shaped payloads, an intake client."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

FIXTURE = Path("/work/shared/fixtures/alertmanager/firing-two-alerts.json")
_SAMPLE = {"receiver":"portal","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"CircuitBreakerOpen","breaker":"adyen-api","service":"payments-webhook","severity":"critical"},"annotations":{"runbook_url":"https://ops.example.internal/runbooks/circuit-breaker-open","summary":"Circuit breaker adyen-api is OPEN"},"startsAt":"2026-11-22T04:05:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph?g0.expr=circuit_breaker_state%3D%3D2","fingerprint":"38bc0e5ad007986d"},{"status":"firing","labels":{"alertname":"CircuitBreakerOpen","breaker":"stripe-api","service":"payments-webhook","severity":"critical"},"annotations":{"runbook_url":"https://ops.example.internal/runbooks/circuit-breaker-open","summary":"Circuit breaker stripe-api is OPEN"},"startsAt":"2026-11-22T04:05:07Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:9090/graph?g0.expr=circuit_breaker_state%3D%3D2","fingerprint":"8ffd38b957daa73f"}],"groupLabels":{"alertname":"CircuitBreakerOpen","service":"payments-webhook"},"commonLabels":{"alertname":"CircuitBreakerOpen","service":"payments-webhook","severity":"critical"},"commonAnnotations":{"runbook_url":"https://ops.example.internal/runbooks/circuit-breaker-open"},"externalURL":"http://127.0.0.1:19093","version":"4","groupKey":"{}:{alertname=\"CircuitBreakerOpen\", service=\"payments-webhook\"}","truncatedAlerts":0}  # noqa: E501


def real_payload() -> dict:
    """The captured Alertmanager v4 notification (two firing alerts, one group)."""
    if FIXTURE.exists():
        return json.loads(FIXTURE.read_text())
    return copy.deepcopy(_SAMPLE)


def with_status(payload: dict, status: str, *fingerprints: str) -> dict:
    """The payload with the named alerts (all when none named) in ``status``."""
    p = copy.deepcopy(payload)
    for a in p["alerts"]:
        if not fingerprints or a["fingerprint"] in fingerprints:
            a["status"] = status
            if status == "resolved":
                a["endsAt"] = "2026-11-22T04:15:07Z"
    p["status"] = "firing" if any(a["status"] == "firing" for a in p["alerts"]) else "resolved"
    return p


def group_payload(group: str, n: int = 1, *, severity: str = "warning", status: str = "firing",
                  extra: dict | None = None) -> dict:
    alerts = [{
        "status": status, "labels": {"alertname": group, "instance": f"i-{i}", "severity": severity, **(extra or {})},
        "annotations": {"summary": f"{group} on i-{i}"}, "startsAt": "2026-11-22T04:05:07Z",
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": f"{group}-{i}",
    } for i in range(n)]
    return {"receiver": "portal", "status": status, "alerts": alerts, "groupLabels": {"alertname": group},
            "commonLabels": {"alertname": group, "severity": severity, **(extra or {})}, "commonAnnotations": {},
            "externalURL": "http://am", "version": "4", "groupKey": f"{{}}:{{alertname=\"{group}\"}}",
            "truncatedAlerts": 0}


@pytest.fixture(autouse=True)
def _fresh_intake_config():
    """Rolled-back test transactions send no signals: start every test with an empty config cache."""
    from reliability.incidents import config_cache

    config_cache.invalidate()
    yield
    config_cache.invalidate()


@pytest.fixture
def alerts_client(token_client):
    return token_client("alerts:write")


@pytest.fixture
def post_am(alerts_client):
    def post(payload: dict, client=None):
        return (client or alerts_client).post("/api/v1/alerts/alertmanager/", payload, format="json")

    return post
