"""The portal's own SLIs (issue #12): real webhook, ingestion and incident rows in, exact minute buckets out.

Rows are made through the owning apps' services (ingestion, alert intake) with the clock moved by
time_machine; delivery attempts are rows as the delivery engine records them. The computation runs
for a fixed ``now``: the ten minutes up to it are recomputed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from audit.actors import Actor
from reliability.slos.models import SLIBucket, SLOStatus
from reliability.slos.services import slos_evaluate
from reliability.slos.services.internal import internal_slis_compute
from tests.slos.conftest import T0

pytestmark = pytest.mark.django_db(transaction=False)
M = timedelta(minutes=1)
SYSTEM = Actor.for_system("tests")
LOOKBACK = [T0 - 9 * M + i * M for i in range(10)]  # now = 12:00:00 recomputes 11:51 … 12:00


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return T0.replace(hour=hh, minute=mm, second=ss)


def buckets(slo) -> dict[datetime, tuple[int, int]]:
    return {b.minute: (b.good, b.total) for b in SLIBucket.objects.filter(slo=slo)}


def quiet_except(**minutes: tuple[int, int]) -> dict[datetime, tuple[int, int]]:
    """The ten lookback minutes, zeros except the given ``m1155=(good, total)`` ones."""
    out = {m: (0, 0) for m in LOOKBACK}
    for key, value in minutes.items():
        out[at(int(key[1:3]), int(key[3:5]))] = value
    return out


# --- webhook delivery per destination ---------------------------------------------------------------


@pytest.fixture
def shop():
    """A source routed to two destinations, ``orders`` and ``billing``."""
    from reliability.webhooks.services.config import (
        RouteSpec,
        webhook_destination_create,
        webhook_source_create,
    )
    from tests.webhooks.helpers import STANDARD_SECRET

    orders, billing = (webhook_destination_create(name=n, url=f"http://127.0.0.1:9/{n}", actor=SYSTEM, source="test")
                       for n in ("orders", "billing"))
    source = webhook_source_create(slug="shop", scheme="standard", secrets=[STANDARD_SECRET], actor=SYSTEM,
                                   source="test", routes=[RouteSpec(destination_id=d.pk) for d in (orders, billing)])
    return source, orders, billing


def ingest(source_slug: str, provider_id: str | None = None):
    """One webhook through the ingestion service, as the ingest view stores it after verifying it."""
    from reliability.webhooks.selectors.config import source_config_load
    from reliability.webhooks.services.ingest import webhook_event_ingest
    from reliability.webhooks.signatures import VerifiedWebhook

    provider_id = provider_id or f"evt_{uuid.uuid4().hex[:16]}"
    return webhook_event_ingest(config=source_config_load(source_slug),
                                verified=VerifiedWebhook(provider_event_id=provider_id, event_type="order.paid"),
                                headers={"Content-Type": "application/json"},
                                body=json.dumps({"id": provider_id}).encode())


def attempts(destination, *rows: tuple[datetime, str]) -> None:
    """Attempt rows of fresh deliveries to ``destination`` (the engine writes one per HTTP attempt)."""
    from reliability.webhooks.models import Delivery, DeliveryAttempt

    for when, result in rows:
        with time_machine.travel(when, tick=False):
            event_id = ingest("shop").event_id
        delivery = Delivery.objects.get(event_id=event_id, destination=destination)
        DeliveryAttempt.objects.create(delivery=delivery, at=when, result=result,
                                       status_code=200 if result == "success" else None)


def test_webhook_delivery_counts_only_its_destinations_attempts_per_minute(make_slo, shop):
    _, orders, billing = shop
    slo = make_slo(slug="orders-delivery", objective="75", sli_source="internal", internal_sli="webhook-delivery:orders",
                   min_events=5)
    other = make_slo(slug="billing-delivery", objective="75", sli_source="internal",
                     internal_sli="webhook-delivery:billing", min_events=5)
    attempts(orders, (at(11, 50, 59), "success"),  # before the lookback: not rewritten
             (at(11, 55, 5), "success"), (at(11, 55, 40), "http_error"), (at(11, 55, 59), "timeout"),
             (at(11, 58), "success"), (at(11, 58, 30), "success"), (at(12, 0, 10), "lease_expired"))
    attempts(billing, *[(at(11, 55, 10 + i), "success") for i in range(5)], (at(11, 57), "network_error"))

    assert internal_slis_compute(now=T0) == {"buckets": 20}
    expected = quiet_except(m1155=(1, 3), m1158=(2, 2), m1200=(0, 1))
    assert buckets(slo) == expected
    assert buckets(other) == quiet_except(m1155=(5, 5), m1157=(0, 1))
    # idempotent: a second run over the same rows writes the same buckets, no more
    internal_slis_compute(now=T0)
    assert buckets(slo) == expected and SLIBucket.objects.filter(slo=slo).count() == 10

    slos_evaluate(now=T0)
    status = SLOStatus.objects.get(slo=slo)
    assert (status.good, status.total) == (3, 6)
    assert status.sli == pytest.approx(0.5)
    assert status.budget_remaining == pytest.approx(1 - 0.5 / 0.25)  # -1: spent twice over
    assert status.state == "exhausted"
    assert status.last_bucket_at == T0 and not status.absent


def test_a_late_attempt_is_caught_by_the_next_run_inside_the_lookback(make_slo, shop):
    _, orders, _ = shop
    slo = make_slo(slug="orders-delivery", sli_source="internal", internal_sli="webhook-delivery:orders")
    attempts(orders, (at(11, 56, 30), "http_error"))
    internal_slis_compute(now=T0)
    assert buckets(slo)[at(11, 56)] == (0, 1)
    attempts(orders, (at(11, 56, 50), "success"))  # recorded after that run, for a minute it already wrote
    internal_slis_compute(now=T0 + 5 * M)  # 11:56 … 12:05
    got = buckets(slo)
    assert got[at(11, 56)] == (1, 2)
    assert got[at(11, 55)] == (0, 0)  # out of this run's range: left as the first run wrote it
    assert len(got) == 15


# --- ingestion availability ----------------------------------------------------------------------------


def test_ingestion_counts_inbound_accepted_over_accepted_and_sampled_rejections(make_slo, shop):
    from reliability.webhooks.models import WebhookEvent
    from reliability.webhooks.services.ingest import _rejection_memo_clear, webhook_rejection_record

    source, _, _ = shop
    slo = make_slo(slug="ingest-avail", objective="50", sli_source="internal", internal_sli="ingestion", min_events=1)
    for second in (1, 20, 40):
        with time_machine.travel(at(11, 55, second), tick=False):
            ingest("shop", provider_id=f"evt-{second}")
    with time_machine.travel(at(11, 55, 50), tick=False):
        assert ingest("shop", provider_id="evt-1").duplicate  # a provider's retry: no second row
    with time_machine.travel(at(11, 57, 3), tick=False):
        ingest("shop")
    # an outbound portal event is not ingestion
    WebhookEvent.objects.create(direction="outbound", provider_event_id=str(uuid.uuid4()), body=b"{}",
                                received_at=at(11, 55, 30))
    _rejection_memo_clear()
    with time_machine.travel(at(11, 55, 12), tick=False):
        sample = {"detail": "x", "remote_ip": "127.0.0.1", "user_agent": "t", "header_names": [], "body_bytes": 2}
        webhook_rejection_record(source_id=source.pk, reason="bad_signature", **sample)
        webhook_rejection_record(source_id=source.pk, reason="bad_signature", **sample)  # the same sample window
        webhook_rejection_record(source_id=source.pk, reason="stale", **sample)
    with time_machine.travel(at(11, 59, 59), tick=False):
        _rejection_memo_clear()
        webhook_rejection_record(source_id=source.pk, reason="bad_signature", **sample)

    internal_slis_compute(now=T0)
    expected = quiet_except(m1155=(3, 5), m1157=(1, 1), m1159=(0, 1))
    assert buckets(slo) == expected
    internal_slis_compute(now=T0)
    assert buckets(slo) == expected

    slos_evaluate(now=T0)
    status = SLOStatus.objects.get(slo=slo)
    assert (status.good, status.total) == (4, 7)
    assert status.budget_remaining == pytest.approx(1 - (3 / 7) / 0.5)


def test_a_quiet_internal_sli_writes_zero_minutes_so_only_a_stopped_computation_is_absent(make_slo):
    slo = make_slo(slug="ingest-avail", sli_source="internal", internal_sli="ingestion", absent_minutes=15)
    internal_slis_compute(now=T0)
    assert buckets(slo) == quiet_except()
    slos_evaluate(now=T0 + 16 * M)  # the newest bucket is 12:00, written as quiet
    status = SLOStatus.objects.get(slo=slo)
    assert not status.absent and status.state == "insufficient_data" and status.budget_remaining is None
    slos_evaluate(now=T0 + 17 * M)  # the computation stopped: now the alarm is right
    assert SLOStatus.objects.get(slo=slo).absent


# --- alert-to-incident latency -------------------------------------------------------------------------


def fire(alertname: str, *fingerprints: str, received: datetime, starts_at: datetime | None = None,
         status: str = "firing") -> None:
    """One Alertmanager-like group notification through the incidents intake, at ``received``."""
    from reliability.incidents.models import AlertSource
    from reliability.incidents.services.intake import AlertIn, GroupIn, alerts_ingest

    labels = {"alertname": alertname, "severity": "warning"}
    alerts = [AlertIn(fingerprint=fp, status=status, labels={**labels, "fp": fp}, starts_at=starts_at or received,
                      ends_at=received if status == "resolved" else None) for fp in fingerprints]
    with time_machine.travel(received, tick=False):
        alerts_ingest(group=GroupIn(source=AlertSource.ALERTMANAGER, group_key=f"am:{alertname}", alerts=alerts,
                                    group_labels={"alertname": alertname}, common_labels=labels, title=alertname),
                      actor=SYSTEM, source="test")


@pytest.fixture
def threshold_rules(db):
    from reliability.incidents.services.config import routing_rule_create

    for name in ("Flap", "Slow", "Lonely"):
        routing_rule_create(name=name, order=1, matchers=[{"label": "alertname", "op": "=", "value": name}],
                            threshold_count=2, threshold_window_seconds=3600, actor=SYSTEM, source="test")


def test_alert_to_incident_measures_arrival_to_incident_creation(make_slo, threshold_rules, settings):
    from reliability.incidents.models import Alert, Incident

    settings.INCIDENT_REOPEN_WINDOW_SECONDS = 300
    slo = make_slo(slug="alert-latency", objective="50", sli="latency", latency_threshold_ms=60_000,
                   sli_source="internal", internal_sli="alert-to-incident", min_events=1)
    fire("Again", "again-1", received=at(11, 51))  # opens an incident at once
    fire("Again", "again-1", received=at(11, 51, 30), status="resolved")
    fire("Fast", "fast-1", received=at(11, 52, 10))  # opens an incident at once: 0 s
    fire("Flap", "flap-1", received=at(11, 54))  # held by the threshold rule …
    fire("Flap", "flap-1", "flap-2", received=at(11, 55, 30), starts_at=at(11, 54))  # … until the second: 90 s
    fire("Old", "old-1", received=at(11, 56), starts_at=at(10, 0))  # began long ago at the source; opened at once
    fire("Fast", "fast-2", received=at(11, 57))  # joins the open incident: attached on arrival
    fire("Slow", "slow-1", received=at(11, 40))  # held for 18 minutes, before this run's lookback …
    fire("Slow", "slow-2", received=at(11, 58), starts_at=at(11, 40))  # … attached now
    fire("Lonely", "lonely-1", received=at(11, 59))  # held, never reaches the threshold: no incident, not counted
    fire("Again", "again-1", received=at(11, 59, 30))  # fires again after the reopen window: a new incident
    assert Incident.objects.get(group_key="am:Flap").started_at == at(11, 54)  # why started_at cannot measure it
    assert Alert.objects.get(fingerprint="again-1").incident.previous is not None

    internal_slis_compute(now=T0)
    expected = quiet_except(m1151=(1, 1), m1152=(1, 1), m1154=(0, 1), m1155=(1, 1), m1156=(1, 1), m1157=(1, 1),
                            m1158=(1, 1))
    expected[at(11, 40)] = (0, 1)  # recomputed: its alert was attached inside this run's range
    assert buckets(slo) == expected
    internal_slis_compute(now=T0)
    assert buckets(slo) == expected

    slos_evaluate(now=T0)
    status = SLOStatus.objects.get(slo=slo)
    assert (status.good, status.total) == (6, 8)
    assert status.sli == pytest.approx(0.75)
    assert status.budget_remaining == pytest.approx(1 - 0.25 / 0.5)


def test_the_alert_latency_threshold_is_the_slos(make_slo, threshold_rules):
    slo = make_slo(slug="alert-latency", sli="latency", latency_threshold_ms=120_000, sli_source="internal",
                   internal_sli="alert-to-incident")
    fire("Flap", "flap-1", received=at(11, 54))
    fire("Flap", "flap-1", "flap-2", received=at(11, 55, 30))  # 90 s: under two minutes
    internal_slis_compute(now=T0)
    assert buckets(slo)[at(11, 54)] == (1, 1)


# --- definitions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "webhook-delivery:", "webhooks", "ingest", "alert-to-incidents"])
def test_an_unknown_internal_sli_is_refused_naming_the_field(make_slo, name):
    with pytest.raises(ValidationError) as exc:
        make_slo(slug="bad", sli_source="internal", internal_sli=name)
    assert "internal_sli" in exc.value.message_dict


def test_the_beat_task_computes_them(make_slo, shop):
    from reliability.slos.tasks import compute_internal

    _, orders, _ = shop
    slo = make_slo(slug="orders-delivery", sli_source="internal", internal_sli="webhook-delivery:orders")
    attempts(orders, (at(11, 59, 30), "success"))
    with time_machine.travel(at(12, 0, 20), tick=False):
        assert compute_internal.apply().get() == {"buckets": 10}
    assert buckets(slo)[at(11, 59)] == (1, 1)
