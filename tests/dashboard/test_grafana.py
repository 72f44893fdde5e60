"""export_grafana_dashboards: valid Grafana JSON whose every query names a metric the portal exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from opsportal.dashboard.grafana import PENDING_METRICS, RECORDING_RULES, build_all, dashboard_queries
from opsportal.dashboard.grafana.metrics import pending_series, series_names
from opsportal.dashboard.grafana.promql import PromQLSyntaxError, metric_names
from opsportal.dashboard.management.commands.export_grafana_dashboards import render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "grafana"
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("grafana")
    call_command("export_grafana_dashboards", "--out", str(out))
    files = sorted(out.glob("*.json"))
    assert [f.name for f in files] == ["opsportal-portal.json", "opsportal-slo-overview.json"]
    return {f.stem: json.loads(f.read_text()) for f in files}


def _exported_series(client) -> set[str]:
    """Series names of the live exposition: TYPE lines expanded by type, plus every sample seen."""
    text = client.get("/metrics").content.decode()
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names |= series_names(name, kind)
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


# --- schema ------------------------------------------------------------------------------------


def test_each_file_is_a_grafana_dashboard_model(written):
    datasource_uid = yaml.safe_load((DEPLOY / "provisioning/datasources/prometheus.yml").read_text())[
        "datasources"][0]["uid"]
    for uid, dash in written.items():
        assert UID.match(dash["uid"]) and dash["uid"] == uid
        assert dash["title"].startswith("opsportal") and isinstance(dash["schemaVersion"], int)
        assert isinstance(dash["panels"], list) and dash["panels"]
        ids = [p["id"] for p in dash["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
        cells = set()
        for panel in dash["panels"]:
            assert panel["type"] in {"row", "timeseries", "stat"} and panel["title"]
            pos = panel["gridPos"]
            assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0 and pos["y"] >= 0
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & mine, f"{panel['title']} overlaps another panel"
            cells |= mine
            if panel["type"] == "row":
                assert panel.get("targets") is None
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": datasource_uid}
            targets = panel["targets"]
            assert targets and len({t["refId"] for t in targets}) == len(targets)
            assert all(isinstance(t["expr"], str) and t["expr"].strip() for t in targets)
            assert all(t["datasource"]["uid"] == datasource_uid for t in targets)


def test_the_committed_files_are_what_the_command_writes(written):
    for uid, dash in build_all().items():
        committed = DEPLOY / "dashboards" / f"{uid}.json"
        assert committed.read_text() == render(dash), f"run manage.py export_grafana_dashboards ({uid} is stale)"
        assert written[uid] == json.loads(committed.read_text())


def test_docker_compose_provisions_them():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in volumes
    provider = yaml.safe_load((DEPLOY / "provisioning/dashboards/opsportal.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"] == "/var/lib/grafana/dashboards"


# --- the queries name exported metrics ---------------------------------------------------------------


@pytest.mark.django_db
def test_every_query_names_a_metric_the_portal_exports_or_a_listed_pending_one(written, client):
    exported = _exported_series(client)
    assert "circuit_breaker_state" in exported and "incidents_open" in exported  # the exposition was read
    pending, rules = pending_series(), set(RECORDING_RULES)
    unknown, used = [], set()
    for uid, dash in written.items():
        for where, expr in dashboard_queries(dash):
            names = metric_names(expr)
            assert names, f"{uid} {where}: {expr!r} names no metric"
            used |= names
            unknown += [f"{uid} {where}: {n}" for n in sorted(names) if n not in exported | set(pending) | rules]
    assert unknown == [], "queries name metrics nobody exports:\n" + "\n".join(unknown)
    # the pending list is exactly the part not exported yet: a name that landed must leave it
    landed = sorted({pending[s] for s in set(pending) & exported})
    assert landed == [], f"now exported, remove from PENDING_METRICS: {landed}"
    assert {pending[s] for s in used & set(pending)} == set(PENDING_METRICS)  # every pending name is used


def test_the_slo_overview_queries_the_slo_metrics_and_the_sloth_rules(written):
    names = set().union(*(metric_names(e) for _, e in dashboard_queries(written["opsportal-slo-overview"])))
    assert {"slo_error_budget_remaining_ratio", "slo_burn_rate", "slo:sli_error:ratio_rate5m",
            "slo:objective:ratio", "slo:error_budget:ratio"} <= names
    assert names & series_names("slo_evaluation_duration_seconds", "histogram")
    burn = [p for p in written["opsportal-slo-overview"]["panels"] if p["title"] == "Burn rate by window"][0]
    assert burn["targets"][0]["expr"] == 'slo_burn_rate{slo=~"$slo"}'
    assert "{{window}}" in burn["targets"][0]["legendFormat"]


def test_the_portal_dashboard_has_each_area(written):
    portal = written["opsportal-portal"]
    rows = [p["title"] for p in portal["panels"] if p["type"] == "row"]
    assert rows == ["Circuit breakers", "Dead-letter queue", "Webhooks", "Incidents", "Health"]
    names = set().union(*(metric_names(e) for _, e in dashboard_queries(portal)))
    assert {"health_check_status", "health_check_duration_seconds", "system_degradation_level",
            "requests_shed_total", "slow_queries_total"} <= names


# --- the tokenizer -------------------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "names"), [
    ("up", {"up"}),
    ('histogram_quantile(0.95, sum by (le) (rate(foo_bucket{job="a", le!="+Inf"}[$__rate_interval])))',
     {"foo_bucket"}),
    ("sum without (instance) (rate(x_total[5m])) / on (job) group_left (slo) y", {"x_total", "y"}),
    ('slo:sli_error:ratio_rate5m{slo=~"$slo"} > bool 14.4 * 1e-3', {"slo:sli_error:ratio_rate5m"}),
    ("max_over_time(a[1h:5m]) offset 1d or b unless c", {"a", "b", "c"}),
    ('{__name__="hidden"} + count(z)', {"z"}),  # a bare matcher names no identifier token
    ("label_values(slo_burn_rate{window=\"1h\"}, slo)", {"slo_burn_rate"}),
    ('sum(rate(m_total{path="/api/sum(x)"}[${range}]))', {"m_total"}),  # strings and ${var} are skipped
    ("topk(3, sum by (breaker) (a)) and on() vector(1)", {"a"}),
])
def test_metric_names(expr, names):
    assert metric_names(expr) == names


@pytest.mark.parametrize("expr", ["sum(rate(x[5m])", 'x{a="b}', "x ? y", "rate(x[5m]))"])
def test_metric_names_refuses_what_it_cannot_read(expr):
    with pytest.raises(PromQLSyntaxError):
        metric_names(expr)
