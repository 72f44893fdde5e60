"""export_slo_rules: promtool accepts the rules, and a promtool unit test fires the page alert on time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db
GOOD = 'sum(rate(http_requests_total{job="api",code!~"5.."}[{{.window}}]))'
TOTAL = 'sum(rate(http_requests_total{job="api"}[{{.window}}]))'


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:  # the Debian package provides it (DESIGN: the test installs it when missing)
        subprocess.run(["apt-get", "install", "-y", "prometheus"], check=True, capture_output=True, timeout=600)
        path = shutil.which("promtool")
    assert path, "promtool is needed (apt-get install prometheus)"
    return path


@pytest.fixture
def exported(make_slo, tmp_path) -> Path:
    make_slo(slug="api-avail", objective="99.9", sli_source="prometheus", prometheus_good_query=GOOD,
             prometheus_total_query=TOTAL, labels={"team": "payments"})
    make_slo(slug="pushed-only")  # no Prometheus SLI: not exported
    call_command("export_slo_rules", "--out", str(tmp_path))
    return tmp_path / "opsportal-slos.rules.yml"


def test_promtool_check_rules_accepts_the_export(exported, promtool):
    result = subprocess.run([promtool, "check", "rules", str(exported)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    doc = yaml.safe_load(exported.read_text())
    records = {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    for name in ("slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h",
                 "slo:sli_error:ratio_rate2h", "slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate1d",
                 "slo:sli_error:ratio_rate3d", "slo:sli_error:ratio_rate30d", "slo:objective:ratio",
                 "slo:error_budget:ratio", "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
                 "slo:period_error_budget_remaining:ratio"):
        assert name in records
    alerts = {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {"SLOErrorBudgetBurnPage", "SLOErrorBudgetBurnTicket", "SLOSLIDataAbsent"}
    first = doc["groups"][0]["rules"][0]["labels"]
    assert first["sloth_id"] == "payments-api-api-avail" and first["slo"] == "api-avail" and first["team"] == "payments"
    assert "pushed-only" not in exported.read_text()


def _unit_test(rules: Path, tmp: Path, *, quiet_at: str, fires_at: str, crossing: int) -> subprocess.CompletedProcess:
    labels = {"alertname": "SLOErrorBudgetBurnPage", "severity": "critical", "sloth_severity": "page",
              "sloth_id": "payments-api-api-avail", "sloth_service": "payments-api", "sloth_slo": "api-avail",
              "slo": "api-avail", "service": "payments-api", "team": "payments"}
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            # 1,000 requests a minute; clean for 120 minutes, then 2 % errors (burn ×20 on a 99.9 % SLO)
            "input_series": [
                {"series": 'http_requests_total{job="api",code="200"}', "values": "0+1000x120 120980+980x100"},
                {"series": 'http_requests_total{job="api",code="500"}', "values": "0x120 20+20x100"},
            ],
            "promql_expr_test": [
                {"expr": "max(slo:sli_error:ratio_rate1h > bool 0.0144)", "eval_time": f"{m}m",
                 "exp_samples": [{"labels": "{}", "value": int(m >= crossing)}]} for m in (crossing - 1, crossing)],
            "alert_rule_test": [
                {"eval_time": quiet_at, "alertname": "SLOErrorBudgetBurnPage", "exp_alerts": []},
                {"eval_time": fires_at, "alertname": "SLOErrorBudgetBurnPage",
                 "exp_alerts": [{"exp_labels": labels, "exp_annotations": {
                     "summary": "SLO api-avail is burning its error budget too fast (page tier)",
                     "title": "(page) payments-api api-avail SLO error budget burn rate is over expected."}}]},
            ],
        }],
    }
    path = tmp / "slo_test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=120)


def test_page_alert_fires_at_the_expected_minute_and_not_before(exported, promtool, tmp_path):
    # The 1 h window at minute t (closed range [t−1h, t]: 60 one-minute steps) holds 20 × (t − 120) errors of
    # 60,000 requests: over 14.4 × 0.1 % = 1.44 % once t − 120 > 43.2, so at minute 164 (the 5 m window is over
    # from minute 123). The alert is in the recordings' group, after them: it fires in the same evaluation.
    crossing = 164
    expected = crossing
    ok = _unit_test(exported, tmp_path, quiet_at=f"{expected - 1}m", fires_at=f"{expected}m", crossing=crossing)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # and the test can fail: expecting the alert a minute early is refused by promtool
    early = _unit_test(exported, tmp_path, quiet_at=f"{expected - 2}m", fires_at=f"{expected - 1}m", crossing=crossing)
    assert early.returncode != 0
