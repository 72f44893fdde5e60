"""SLOs on the embedded default (SQLite): internal SLIs and timeslice budgets through the portable paths.

A fresh SQLite database (``manage.py migrate``), then ``tests/sqlite/slos_scenario.py`` in
``manage.py shell``: the same services as on PostgreSQL, the ORM fallbacks underneath.
"""

from __future__ import annotations

import json

import pytest

from tests.test_serve import ROOT, embedded_env, manage

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    env = embedded_env(tmp_path_factory.mktemp("slos-sqlite"))
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    script = (ROOT / "tests" / "sqlite" / "slos_scenario.py").read_text()
    ran = manage("shell", "-c", script, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    line = next(x for x in ran.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_internal_slis_write_the_same_buckets_as_on_postgresql(result):
    assert result["written"] == [{"buckets": 30}, {"buckets": 30}]  # ten minutes each, twice: idempotent
    assert result["orders"] == {"11:55": [1, 2], "11:58": [1, 1]}  # billing's attempt is not orders'
    assert result["ingestion"] == {"11:55": [3, 3], "11:58": [1, 2]}
    assert result["alerts"] == {"11:54": [0, 1], "11:55": [1, 1], "11:56": [1, 1]}
    assert result["orders_count"] == result["ingestion_count"] == result["alerts_count"] == 10
    assert result["orders_status"] == [2, 3, pytest.approx(1 - (1 / 3) / 0.5), "ok"]
    assert result["alerts_status"] == [2, 3, pytest.approx(1 - (1 / 3) / 0.5), "ok"]


def test_timeslices_and_corrections_on_sqlite(result):
    # 13 slices (11:00 … 12:00), 2 bad → 1 − (2/13)/0.4; the correction empties 11:10 and cleans 11:05
    assert result["before"]["sliced"] == pytest.approx(1 - (2 / 13) / 0.4)
    good, total, budget, state = result["sliced_status"]
    assert budget == pytest.approx(1 - (1 / 12) / 0.4) and state == "ok"
