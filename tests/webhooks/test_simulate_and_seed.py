"""manage.py simulate (against a live server) and the seed_demo step."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEntry
from opsportal.demo import SeedContext
from reliability.webhooks.demo import DEMO_DESTINATION, DEMO_SOURCE, seed_webhooks
from reliability.webhooks.models import Delivery, WebhookDestination, WebhookEvent, WebhookSource


def summary(out: str) -> dict[str, int]:
    return {code: int(n) for code, n in re.findall(r"^\s+(\S+): (\d+)$", out, re.M)}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scheme", ["stripe", "github", "standard", "hmac"])
def test_simulate_sends_signed_realistic_webhooks_and_prints_status_codes(live_server, make_source, make_destination, scheme):
    make_source("sim", scheme, destinations=[make_destination()])
    out = io.StringIO()
    call_command(
        "simulate", "--webhooks", "30", "--rate", "300", "--source", "sim", "--url", live_server.url,
        "--duplicates", "30", "--seed", "7", stdout=out,
    )
    counts = summary(out.getvalue())
    distinct = WebhookEvent.objects.count()
    assert counts.get("202") == distinct and distinct > 0, out.getvalue()
    assert counts.get("200", 0) == 30 - distinct, out.getvalue()  # the re-sent ones, deduplicated
    assert set(counts) <= {"200", "202"}
    assert Delivery.objects.count() == distinct
    types = set(WebhookEvent.objects.values_list("event_type", flat=True))
    if scheme == "github":
        assert types == {"push"}
        push = json.loads(bytes(WebhookEvent.objects.first().body))
        assert push["ref"].startswith("refs/heads/") and push["commits"] and push["repository"]["full_name"]
    else:
        assert types <= {"payment_intent.succeeded", "charge.refunded"}
    if scheme == "stripe":
        event = json.loads(bytes(WebhookEvent.objects.first().body))
        assert event["object"] == "event" and event["id"].startswith("evt_") and event["data"]["object"]["amount"] > 0


@pytest.mark.django_db(transaction=True)
def test_simulate_alerts_posts_v4_batches_that_open_one_incident_per_group_and_dedupe(live_server):
    from opsportal.accounts.models import IntegrationToken
    from reliability.incidents.models import Alert, Incident

    out = io.StringIO()
    args = ["simulate", "--alerts", "40", "--rate", "5000", "--batch", "5", "--groups", "3", "--instances", "6",
            "--url", live_server.url]
    call_command(*args, stdout=out)
    assert summary(out.getvalue()) == {"200": 8}, out.getvalue()  # 40 alerts in batches of 5
    assert IntegrationToken.objects.filter(name="simulate --alerts", scopes=["alerts:write"]).count() == 1
    assert Incident.objects.count() == 3  # one per group (alertname + service)
    assert Alert.objects.count() == 18  # 3 groups × 6 instances: repeats deduped by fingerprint
    alert = Alert.objects.filter(labels__alertname="HighErrorRate").first()
    assert set(alert.labels) >= {"alertname", "service", "severity", "instance"}
    assert Incident.objects.get(group_key__contains="HighErrorRate").severity == "P1"  # critical → P1
    # a second run sends the same fingerprints again: nothing new
    call_command(*args, stdout=io.StringIO())
    assert (Incident.objects.count(), Alert.objects.count()) == (3, 18)


@pytest.mark.django_db(transaction=True)
def test_simulate_alerts_with_a_wrong_token_is_refused_and_stores_nothing(live_server):
    from reliability.incidents.models import Alert

    out = io.StringIO()
    call_command("simulate", "--alerts", "4", "--rate", "5000", "--token", "opsp_wrong", "--url", live_server.url,
                 stdout=out)
    assert summary(out.getvalue()) == {"401": 1}, out.getvalue()
    assert not Alert.objects.exists()


@pytest.mark.django_db
def test_simulate_alerts_checks_its_arguments():
    with pytest.raises(CommandError, match="--groups"):
        call_command("simulate", "--alerts", "5", "--groups", "9")
    with pytest.raises(CommandError, match="--rate > 0"):
        call_command("simulate", "--alerts", "0")


@pytest.mark.django_db
def test_simulate_needs_a_known_source():
    with pytest.raises(CommandError, match="no webhook source 'nope'"):
        call_command("simulate", "--webhooks", "1", "--source", "nope")
    with pytest.raises(CommandError, match="--webhooks N and --source"):
        call_command("simulate", "--webhooks", "1")


@pytest.mark.django_db
def test_seed_step_creates_demo_source_and_a_destination_delivering_to_the_sink_once(monkeypatch):
    monkeypatch.delenv("OPSPORTAL_DEMO_BASE_URL", raising=False)
    monkeypatch.setenv("OPSPORTAL_HOST", "0.0.0.0")
    monkeypatch.setenv("OPSPORTAL_PORT", "8123")
    ctx = SeedContext()
    seed_webhooks(ctx)
    source = WebhookSource.objects.get(slug=DEMO_SOURCE)
    destination = WebhookDestination.objects.get(name=DEMO_DESTINATION)
    assert source.scheme == "standard" and source.secrets[0].startswith("whsec_")
    assert list(source.destinations.all()) == [destination]
    assert destination.enabled is True and destination.disabled_reason == ""
    assert destination.url == "http://127.0.0.1:8123/ops/_sink/demo/", "follows the served host and port"
    assert len(ctx.created_items) == 2
    assert AuditEntry.objects.filter(action__startswith="webhooks.", actor_label="cli:seed_demo").count() == 2

    again = SeedContext()
    seed_webhooks(again)
    assert again.created_items == []
    assert WebhookSource.objects.count() == 1 and WebhookDestination.objects.count() == 1
