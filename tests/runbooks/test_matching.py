"""Matching runbooks to alert labels: equality, regex (anchored), negative matchers, specificity order."""

from __future__ import annotations

import pytest

from runbooks.matching import matches, specificity
from runbooks.selectors import runbook_checklist, runbook_for_url, runbook_url, runbooks_matching

from .conftest import body

pytestmark = pytest.mark.django_db


def m(label, op, value):
    return {"label": label, "op": op, "value": value}


@pytest.fixture
def catalogue(make_runbook):
    make_runbook("any-queue", matchers=[m("alertname", "=", "QueueOverload")])
    make_runbook("prod-queue", matchers=[m("alertname", "=", "QueueOverload"), m("env", "=", "prod")])
    make_runbook("prod-celery-queue", matchers=[m("alertname", "=", "QueueOverload"), m("env", "=", "prod"),
                                                m("queue", "=~", "celery|default")])
    make_runbook("queue-not-staging", matchers=[m("alertname", "=~", "Queue.*"), m("env", "!=", "staging")])
    make_runbook("stock-sync", matchers=[m("alertname", "=~", "StockSync(Failure|Stale)"), m("erp", "!~", "test-.*")])
    make_runbook("draft-queue", status="draft", matchers=[m("alertname", "=", "QueueOverload")])
    make_runbook("no-matchers")


@pytest.mark.parametrize(("labels", "expected"), [
    ({"alertname": "QueueOverload", "env": "prod", "queue": "celery"},
     ["prod-celery-queue", "prod-queue", "any-queue", "queue-not-staging"]),
    ({"alertname": "QueueOverload", "env": "prod", "queue": "celery-high"},  # regexes are anchored
     ["prod-queue", "any-queue", "queue-not-staging"]),
    ({"alertname": "QueueOverload", "env": "staging"}, ["any-queue"]),
    ({"alertname": "QueueOverloadSoon"}, ["queue-not-staging"]),  # missing env is "" which is != staging
    ({"alertname": "StockSyncStale", "erp": "sap-prod"}, ["stock-sync"]),
    ({"alertname": "StockSyncStale", "erp": "test-sap"}, []),
    ({"alertname": "StockSyncFailureX"}, []),
    ({}, []),
])
def test_runbooks_matching_picks_the_right_ones_most_specific_first(catalogue, labels, expected):
    assert [rb.slug for rb in runbooks_matching(labels)] == expected


def test_specificity_weighs_exact_over_regex_over_negative():
    exact = [m("a", "=", "x")]
    regex_and_negatives = [m("a", "=~", "x"), m("b", "!=", "y"), m("c", "!~", "z")]
    assert specificity(exact) > specificity(regex_and_negatives) > specificity([m("b", "!=", "y")])


def test_no_matchers_match_nothing():
    assert not matches([], {"alertname": "X"})


def test_runbook_url_annotation_resolves_to_the_runbook(make_runbook, settings):
    rb = make_runbook("dlq-backlog")
    assert runbook_url(rb) == "/ops/runbooks/dlq-backlog/"
    settings.OPSPORTAL_BASE_URL = "https://ops.example.com/"
    assert runbook_url(rb) == "https://ops.example.com/ops/runbooks/dlq-backlog/"
    assert runbook_for_url("https://ops.example.com/ops/runbooks/dlq-backlog/") == rb
    assert runbook_for_url("/ops/runbooks/dlq-backlog/?version=1#rb-resolution") == rb
    for other in ("https://wiki.example.com/dlq", "/ops/runbooks/", "/ops/runbooks/nope/", "", "::", "/admin/"):
        assert runbook_for_url(other) is None


def test_the_resolution_steps_become_the_checklist(make_runbook):
    rb = make_runbook(text=body(resolution=(
        "Do these in order:\n\n1. Acknowledge the incident.\n2. Dry-run the replay:\n   `webhooks_retry --since 1h --dry-run`\n"
        "3) Replay for real\n   with a reason.\n\nThen watch the DLQ.\n\n- not a step"
    )))
    assert runbook_checklist(rb) == [
        "Acknowledge the incident.",
        "Dry-run the replay:\n`webhooks_retry --since 1h --dry-run`",
        "Replay for real\nwith a reason.",
    ]


def test_the_shipped_runbooks_each_have_numbered_resolution_steps():
    from django.conf import settings

    from runbooks.files import parse_directory
    from runbooks.rendering import resolution_steps

    parsed = parse_directory(settings.BASE_DIR / "docs" / "runbooks")
    assert len(parsed) == 10
    for item in parsed:
        assert len(resolution_steps(item.body)) >= 4, item.path
