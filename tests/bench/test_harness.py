"""The benchmark harness: selection, recording, failure reporting, and the bare handler.

No timings are asserted here; the benchmarks themselves live in bench/.
"""

from __future__ import annotations

import json
import textwrap
from io import BytesIO

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench import run_all
from bench.api_overhead.run import parse_wrk
from bench.common import BenchError, md_table, percentile


def _bench(directory, name: str, body: str) -> None:
    (directory / name).mkdir()
    (directory / name / "run.py").write_text(textwrap.dedent(body))


@pytest.fixture
def bench_dir(tmp_path):
    directory = tmp_path / "bench"
    directory.mkdir()
    _bench(directory, "fast", """
        print("### fast")
        print()
        print("| x | y |")
        print("**Target: met.**")
    """)
    _bench(directory, "broken", """
        import sys
        print("server never came up", file=sys.stderr)
        sys.exit(3)
    """)
    (directory / "notabench").mkdir()  # no run.py: ignored
    return directory


def test_discovers_only_directories_with_run_py(bench_dir):
    assert run_all.discover(bench_dir) == ["broken", "fast"]


def test_select_by_name_list_env_style_and_rejects_unknown():
    available = ["a", "b", "c"]
    assert run_all.select([], available) == available
    assert run_all.select([""], available) == available
    assert run_all.select(["c,a", "a"], available) == ["c", "a"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        run_all.select(["nope"], available)


def test_run_appends_machine_and_sections_and_reports_broken(bench_dir, tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    monkeypatch.delenv("BENCH", raising=False)

    code = run_all.main(["--bench-dir", str(bench_dir), "--results", str(results)])

    assert code == 1  # one benchmark broke
    text = results.read_text()
    assert text.startswith("# Benchmark results")
    for label in ("- host:", "- CPU:", "- cores:", "- RAM:", "- kernel:", "- Python:", "- git commit:",
                  "- load average at start (1/5/15 min):"):
        assert label in text
    assert "### fast" in text and "**Target: met.**" in text
    assert "### broken" in text and "Benchmark broke** (exit 3" in text
    assert "server never came up" in text
    assert "broken (BROKE" in text and "fast (ok" in text


def test_env_bench_selects_and_a_second_run_appends(bench_dir, tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    monkeypatch.setenv("BENCH", "fast")

    assert run_all.main(["--bench-dir", str(bench_dir), "--results", str(results)]) == 0
    assert run_all.main(["--bench-dir", str(bench_dir), "--results", str(results)]) == 0

    text = results.read_text()
    assert text.count("# Benchmark results") == 1
    assert text.count("### fast") == 2
    assert "### broken" not in text


def test_unknown_name_exits_2_and_records_nothing(bench_dir, tmp_path):
    results = tmp_path / "RESULTS.md"
    assert run_all.main(["nope", "--bench-dir", str(bench_dir), "--results", str(results)]) == 2
    assert not results.exists()


def test_percentile_interpolates_and_md_table_escapes():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4, 5], 90) == pytest.approx(4.6)
    assert percentile([7], 99) == 7
    assert md_table(["a", "b"], [["x|y", 1]]).splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | 1 |"]


WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:4000/bench/bare/1/
  1 threads and 1 connections
  Latency Distribution
     50%  812.00us
     75%    1.02ms
     90%    1.50ms
     99%    3.10ms
  2301 requests in 2.00s, 1.01MB read
"""


def test_parse_wrk_units_and_refuses_errors():
    assert parse_wrk(WRK_OUTPUT) == {"p50": pytest.approx(0.812), "p90": 1.5, "p99": 3.1, "requests": 2301}
    with pytest.raises(BenchError, match="non-2xx"):
        parse_wrk(WRK_OUTPUT + "  Non-2xx or 3xx responses: 2301\n")
    with pytest.raises(BenchError, match="socket errors"):
        parse_wrk(WRK_OUTPUT + "  Socket errors: connect 0, read 1, write 0, timeout 0\n")
    with pytest.raises(BenchError, match="could not parse"):
        parse_wrk("nothing useful")


@pytest.fixture
def wsgi_app(db, settings):
    """The benchmark's WSGI app on the test database, as Django's test client would call it."""
    settings.ROOT_URLCONF = "bench.api_overhead.urls"
    from bench.api_overhead import wsgi

    # Like django.test.Client: keep the test transaction's connection open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield wsgi.application
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _get(app, path: str, **headers: str):
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
        "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http", "wsgi.input": BytesIO(),
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    }
    started = {}

    def start_response(status, response_headers, exc_info=None):
        started["status"], started["headers"] = status, dict(response_headers)

    body = b"".join(app(environ, start_response))
    return started["status"], started["headers"], body


def test_bare_path_skips_middleware_and_bare_mw_goes_through_it(wsgi_app):
    from opsportal.catalog.models import Service

    service = Service.objects.create(name="bench-probe", team="sre", tier=1)

    status, headers, body = _get(wsgi_app, f"/bench/bare/{service.pk}/", **{"X-Bench-Count-Queries": "1"})
    assert status.startswith("200")
    assert json.loads(body)["name"] == "bench-probe"
    assert headers["X-Bench-Queries"] == "1"
    # RequestContextMiddleware stamps every response it sees; the bare handler has none.
    assert "X-Request-ID" not in headers and "X-Frame-Options" not in headers

    status, headers, body = _get(wsgi_app, f"/bench/bare-mw/{service.pk}/")
    assert status.startswith("200")
    assert json.loads(body)["id"] == service.pk
    assert "X-Request-ID" in headers and headers["X-Frame-Options"] == "DENY"
    assert "X-Bench-Queries" not in headers  # only counted when asked


def test_api_target_needs_the_token(wsgi_app, issue_token):
    from opsportal.catalog.models import Service

    raw = issue_token("read", service="bench-api-overhead")
    service = Service.objects.get(name="bench-api-overhead")

    status, _, _ = _get(wsgi_app, f"/api/v1/services/{service.pk}/")
    assert status.startswith("401")
    status, headers, body = _get(
        wsgi_app, f"/api/v1/services/{service.pk}/", Authorization=f"Bearer {raw}", **{"X-Bench-Count-Queries": "1"}
    )
    assert status.startswith("200")
    assert json.loads(body)["id"] == service.pk
    assert int(headers["X-Bench-Queries"]) >= 2  # token lookup + the row
