"""The Prometheus SLI source against a real Prometheus (Debian's package) on 127.0.0.1.

The history is backfilled with ``promtool tsdb create-blocks-from openmetrics`` (two hours of
counters, a sample every 15 s): the real server answers ``query_range`` at once, no scraping to wait for.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from reliability.slos.models import SLIBucket
from reliability.slos.services.prometheus import prometheus_sli_pull, retention
from reliability.slos.validation import prometheus_retention_warning

pytestmark = pytest.mark.django_db
GOOD = 'sum(rate(http_requests_total{job="api",code!~"5.."}[{{.window}}]))'
TOTAL = 'sum(rate(http_requests_total{job="api"}[{{.window}}]))'


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        pytest.fail("prometheus and promtool are needed (apt-get install prometheus)")
    root = tmp_path_factory.mktemp("prom")
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    start = end - timedelta(hours=2)
    lines = ["# TYPE http_requests counter"]
    ok = err = 0.0
    t = start
    series = []
    while t <= end:
        series.append((t, ok, err))
        ok += 990 / 4  # 990 good and 10 bad requests a minute
        err += 10 / 4
        t += timedelta(seconds=15)
    for t, o, _ in series:
        lines.append(f'http_requests_total{{job="api",code="200"}} {o} {t.timestamp():.0f}')
    for t, _, e in series:
        lines.append(f'http_requests_total{{job="api",code="500"}} {e} {t.timestamp():.0f}')
    lines.append("# EOF")
    (root / "data.om").write_text("\n".join(lines) + "\n")
    data = root / "tsdb"
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"), str(data)],
                   check=True, capture_output=True, timeout=120)
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = _port()
    proc = subprocess.Popen(["prometheus", f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=15d"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/-/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("prometheus did not become ready in 60 s")
    yield {"base": base, "start": start, "end": end}
    proc.terminate()
    proc.wait(timeout=30)


def test_pull_reads_good_and_total_at_the_same_instants(make_slo, prometheus, settings):
    settings.PROMETHEUS_URL = prometheus["base"]
    slo = make_slo(slug="prom-avail", sli_source="prometheus", prometheus_good_query=GOOD, prometheus_total_query=TOTAL)
    written = prometheus_sli_pull(slo, now=prometheus["end"] + timedelta(minutes=10))
    assert written >= 100  # two hours of minutes (the edges may lack a full rate window)
    rows = list(SLIBucket.objects.filter(slo=slo).values_list("minute", "good", "total"))
    assert all(good <= total for _, good, total in rows)
    inside = [(g, t) for m, g, t in rows if prometheus["start"] + timedelta(minutes=5) < m < prometheus["end"] - timedelta(minutes=2)]
    assert inside and all((g, t) == (990, 1000) for g, t in inside), inside[:5]
    again = prometheus_sli_pull(slo, now=prometheus["end"] + timedelta(minutes=10))  # idempotent
    assert again > 0 and SLIBucket.objects.filter(slo=slo).count() == len(rows)


def test_retention_shorter_than_the_window_warns(prometheus, settings):
    settings.PROMETHEUS_URL = prometheus["base"]
    kept = retention()
    assert kept == "15d"
    assert "15d" in prometheus_retention_warning(window="30d", retention_text=kept)
